use crate::components::alarms::AlarmList;
use crate::components::chart::Sparkline;
use crate::components::fleet::FleetDetail;
use crate::components::freshness::Freshness;
use crate::dto::{
    AlarmView, ColourFleet, ColourHealth, DeployMarker, PanelState, RuleView, ServiceHealth,
    Severity, Signal, Verdict, SLA,
};
use leptos::prelude::*;

pub fn verdict_label(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::NoData => "no data",
        Verdict::Healthy => "healthy",
        Verdict::Degraded => "degraded",
        Verdict::Failing => "failing",
    }
}

/// The badge's classes: `verdict verdict-healthy` etc.
pub fn verdict_class(verdict: Verdict) -> String {
    format!(
        "verdict verdict-{}",
        verdict_label(verdict).replace(' ', "-")
    )
}

/// The lowest threshold of the given severity for a signal: what the chart draws.
fn threshold(rules: &[RuleView], signal: Signal, severity: Severity) -> Option<f64> {
    rules
        .iter()
        .filter(|r| r.signal == signal && r.severity == severity)
        .map(|r| r.threshold)
        .reduce(f64::min)
}

fn show(value: Option<f64>, signal: Option<Signal>) -> String {
    match (value, signal) {
        (None, _) => "no data".into(),
        (Some(v), Some(signal)) => signal.format(v),
        (Some(v), None) => format!("{v:.1}"),
    }
}

/// Both colours of one service side by side: the gate's verdict and why, each KPI against the SLA and the alert
/// threshold, sparklines of the last minutes, target health per zone, tasks and the colour's alarms.
#[component]
pub fn HealthPanel(
    health: ServiceHealth,
    /// The panel's heading; "Health" unless told.
    #[prop(optional, into)]
    title: Option<String>,
) -> impl IntoView {
    let metrics = PanelState {
        as_of: health.as_of.clone(),
        age_secs: health.age_secs,
        stale: health.stale,
        error: health.error.clone(),
    };
    let rules = health.rules.clone();
    let fleet = health.fleet.clone();
    let alarms = health.alarms.clone();
    let markers = health.deploy_markers.clone();
    // A colour with fleet data but no metrics yet (a read never succeeded) still shows its tasks and targets.
    let colours: Vec<ColourHealth> = health.colours;
    view! {
        <section class="panel health" data-health-service=health.service.clone()>
            <div class="environment-head">
                <h2>{title.unwrap_or_else(|| "Health".into())}</h2>
                <Freshness state=metrics/>
            </div>
            <div class="health-colours">
                {colours.into_iter().map(|colour| {
                    let name = colour.colour;
                    let fleet = fleet.iter().find(|f| f.colour == name).cloned();
                    let alarms: Vec<AlarmView> = alarms.iter().filter(|a| a.colour == Some(name)).cloned().collect();
                    view! { <ColourHealthCard colour rules=rules.clone() fleet alarms markers=markers.clone()/> }
                }).collect_view()}
            </div>
        </section>
    }
}

#[component]
fn ColourHealthCard(
    colour: ColourHealth,
    rules: Vec<RuleView>,
    fleet: Option<ColourFleet>,
    alarms: Vec<AlarmView>,
    markers: Vec<DeployMarker>,
) -> impl IntoView {
    let verdict = colour.judgement.verdict;
    let kpis = colour.kpis.clone();
    let sla = |signal: Signal| {
        SLA.iter()
            .find(|(s, _)| *s == signal)
            .map(|(s, v)| s.format(*v))
    };
    let alert =
        |signal: Signal| threshold(&rules, signal, Severity::Degraded).map(|v| signal.format(v));
    let rows: Vec<(&str, String, Option<String>, Option<String>)> = vec![
        (
            "Requests/s",
            show(kpis.requests_per_second, None),
            None,
            None,
        ),
        (
            "5xx rate",
            show(kpis.error_rate_percent, Some(Signal::ErrorRate)),
            sla(Signal::ErrorRate),
            alert(Signal::ErrorRate),
        ),
        (
            "p95",
            show(kpis.p95_ms, Some(Signal::P95Ms)),
            sla(Signal::P95Ms),
            alert(Signal::P95Ms),
        ),
        (
            "p99",
            show(kpis.p99_ms, Some(Signal::P99Ms)),
            sla(Signal::P99Ms),
            alert(Signal::P99Ms),
        ),
        (
            "CPU",
            show(kpis.cpu_percent, Some(Signal::CpuPercent)),
            None,
            alert(Signal::CpuPercent),
        ),
        (
            "Memory",
            show(kpis.memory_percent, Some(Signal::MemoryPercent)),
            None,
            alert(Signal::MemoryPercent),
        ),
        (
            "Healthy / unhealthy hosts",
            format!(
                "{} / {}",
                show(kpis.healthy_hosts, None),
                show(kpis.unhealthy_hosts, None)
            ),
            None,
            None,
        ),
    ];
    let name = colour.colour.as_str();
    view! {
        <article class=format!("health-colour colour-{name}") data-colour=name data-verdict=verdict_label(verdict)>
            <div class="cell-head">
                <span class=format!("dot colour-{name}") aria-hidden="true"></span>
                <strong>{name}</strong>
                <span class=verdict_class(verdict)>{verdict_label(verdict)}</span>
            </div>
            {(!colour.judgement.fired.is_empty()).then(|| view! {
                <ul class="fired">
                    {colour.judgement.fired.iter().map(|f| view! {
                        <li class=format!("fired-{}", match f.severity { Severity::Failing => "failing", Severity::Degraded => "degraded" })>
                            <strong>{f.rule.clone()}</strong> ": " {f.message.clone()}
                        </li>
                    }).collect_view()}
                </ul>
            })}
            <table class="kpis">
                <thead><tr><th>"KPI"</th><th>"Now"</th><th>"SLA"</th><th>"Alert above"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|(label, now, sla, alert)| view! {
                        <tr><th>{label}</th><td class="num">{now}</td><td class="muted">{sla.unwrap_or_default()}</td><td class="muted">{alert.unwrap_or_default()}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
            <div class="charts">
                <figure>
                    <figcaption class="small muted">"5xx rate, %"</figcaption>
                    <Sparkline points=colour.history(Signal::ErrorRate).to_vec()
                        threshold=threshold(&rules, Signal::ErrorRate, Severity::Failing).unwrap_or(5.0)
                        markers=markers.clone()
                        title=format!("{name}: 5xx rate per minute") unit="%"/>
                </figure>
                <figure>
                    <figcaption class="small muted">"p95 response time, ms"</figcaption>
                    <Sparkline points=colour.history(Signal::P95Ms).to_vec()
                        threshold=threshold(&rules, Signal::P95Ms, Severity::Degraded).unwrap_or(800.0)
                        markers
                        title=format!("{name}: p95 per minute") unit="ms"/>
                </figure>
            </div>
            {fleet.map(|fleet| view! { <FleetDetail fleet/> }.into_any())}
            <div class="fleet" data-testid="colour-alarms">
                <h3 class="small-head">{format!("Alarms ({})", alarms.len())}</h3>
                <AlarmList alarms/>
            </div>
        </article>
    }
}
