//! CloudWatch alarms and their states: firing ones first, each with CloudWatch's reason.

use crate::components::freshness::Freshness;
use crate::dto::{AlarmView, PanelState};
use leptos::prelude::*;

fn state_class(state: &str) -> &'static str {
    match state {
        "ALARM" => "alarm-state alarm-firing",
        "OK" => "alarm-state alarm-ok",
        _ => "alarm-state alarm-unknown",
    }
}

#[component]
pub fn AlarmList(alarms: Vec<AlarmView>) -> impl IntoView {
    view! {
        <ul class="alarms">
            {alarms.into_iter().map(|alarm| view! {
                <li data-alarm=alarm.name.clone() data-state=alarm.state.clone()>
                    <span class=state_class(&alarm.state)>{alarm.state.replace('_', " ")}</span>
                    " " <code>{alarm.name.clone()}</code>
                    {alarm.description.clone().map(|d| view! { <span class="muted small">" — " {d}</span> })}
                    {(alarm.state != "OK").then(|| alarm.reason.clone().map(|r| view! { <div class="small muted alarm-reason">{r}</div> }))}
                </li>
            }).collect_view()}
        </ul>
    }
}

/// The environment-wide alarms (those on no service colour), with the panel's freshness.
#[component]
pub fn AlarmsPanel(alarms: Vec<AlarmView>, state: PanelState) -> impl IntoView {
    let firing = alarms.iter().filter(|a| a.state == "ALARM").count();
    let environment_wide: Vec<AlarmView> =
        alarms.into_iter().filter(|a| a.colour.is_none()).collect();
    view! {
        <section class="panel" data-testid="alarms">
            <div class="environment-head">
                <h2>"Alarms"</h2>
                <span class="small" data-testid="alarms-firing">{format!("{firing} in ALARM")}</span>
                <Freshness state/>
            </div>
            <p class="muted small">"Alarms on a colour's target group or ECS service are listed with that colour above; these watch the whole environment."</p>
            <AlarmList alarms=environment_wide/>
        </section>
    }
}
