use crate::components::health_panel::{verdict_class, verdict_label};
use crate::dto::{ColourOverview, Routing};
use leptos::prelude::*;

/// Which colour receives the traffic, as a badge.
#[component]
pub fn RoutingBadge(routing: Routing) -> impl IntoView {
    match routing {
        Routing::Live { colour } => view! {
            <span class=format!("badge colour-{colour}") data-testid="live-colour">{format!("{colour} live")}</span>
        }
        .into_any(),
        Routing::Split { blue, green } => view! {
            <span class="badge split" data-testid="live-colour">{format!("split blue {blue}% / green {green}%")}</span>
        }
        .into_any(),
        Routing::Unknown { reason } => view! {
            <span class="badge unknown" data-testid="live-colour" title=reason.clone()>"routing unknown"</span>
            <span class="muted small">{reason}</span>
        }
        .into_any(),
    }
}

/// One colour of one service: ECS counts, task definition and image.
#[component]
pub fn ColourCell(colour: ColourOverview, live: bool) -> impl IntoView {
    let class = format!(
        "colour-cell colour-{}{}",
        colour.colour,
        if live { " is-live" } else { "" }
    );
    let counts = colour
        .ecs
        .as_ref()
        .map(|ecs| format!("{}/{}", ecs.running, ecs.desired));
    view! {
        <td class=class data-colour=colour.colour.as_str()>
            <div class="cell-head">
                <span class=format!("dot colour-{}", colour.colour) aria-hidden="true"></span>
                <strong>{colour.colour.as_str()}</strong>
                {live.then(|| view! { <span class="live-tag">"LIVE"</span> })}
                {colour.health.map(|verdict| view! {
                    <span class=verdict_class(verdict) data-testid="health-badge">{verdict_label(verdict)}</span>
                })}
                <span class="muted small">{colour.ecs_service.clone()}</span>
            </div>
            {match (colour.ecs, colour.error) {
                (Some(ecs), _) => view! {
                    <dl class="facts">
                        <dt>"Tasks"</dt>
                        <dd data-testid="task-counts">
                            <span class="counts">{counts}</span>
                            " running/desired"
                            {(ecs.pending > 0).then(|| format!(", {} pending", ecs.pending))}
                        </dd>
                        <dt>"Task definition"</dt>
                        <dd><code>{ecs.task_definition}</code></dd>
                        <dt>"Image"</dt>
                        <dd><code class="image">{ecs.image.unwrap_or_else(|| "—".into())}</code></dd>
                        <dt>"Rollout"</dt>
                        <dd>{ecs.rollout.unwrap_or_else(|| ecs.status.clone())}</dd>
                    </dl>
                }.into_any(),
                (None, Some(error)) => view! { <p class="cell-error">{error}</p> }.into_any(),
                (None, None) => view! { <p class="muted">"no data yet"</p> }.into_any(),
            }}
        </td>
    }
}
