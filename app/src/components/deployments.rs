//! ECS deployments per colour: PRIMARY and any ACTIVE ones still draining, with rollout state and counts.

use crate::components::freshness::Freshness;
use crate::dto::{ColourOverview, DeploymentView, PanelState};
use leptos::prelude::*;

/// `state`: the topology reading's freshness (deployments come with each DescribeServices).
#[component]
pub fn DeploymentsPanel(colours: Vec<ColourOverview>, state: PanelState) -> impl IntoView {
    let rows: Vec<(String, DeploymentView)> = colours
        .into_iter()
        .flat_map(|c| {
            let name = c.colour.as_str().to_string();
            c.ecs
                .map(|e| e.rollouts)
                .unwrap_or_default()
                .into_iter()
                .map(move |d| (name.clone(), d))
        })
        .collect();
    view! {
        <section class="panel" data-testid="deployments">
            <div class="environment-head">
                <h2>"ECS deployments"</h2>
                <Freshness state/>
            </div>
            <table class="kpis">
                <thead><tr><th>"Colour"</th><th>"Deployment"</th><th>"Status"</th><th>"Revision"</th><th>"Rollout"</th><th>"Desired / running / pending / failed"</th><th>"Created"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|(colour, d)| view! {
                        <tr data-colour=colour.clone()>
                            <td><span class=format!("dot colour-{colour}") aria-hidden="true"></span> " " {colour.clone()}</td>
                            <td><code>{d.id.rsplit('/').next().unwrap_or(&d.id).chars().take(10).collect::<String>()}</code></td>
                            <td>{d.status.clone()}</td>
                            <td><code>{d.task_definition.clone()}</code></td>
                            <td>
                                {d.rollout_state.clone().unwrap_or_else(|| "—".into())}
                                {d.rollout_state_reason.clone().map(|r| view! { <div class="small muted">{r}</div> })}
                            </td>
                            <td class="num">{format!("{} / {} / {} / {}", d.desired, d.running, d.pending, d.failed_tasks)}</td>
                            <td class="small">{d.created_at.clone().map(|t| t.get(..16).unwrap_or(&t).replace('T', " ")).unwrap_or_else(|| "—".into())}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
