//! Requesting a deploy: pick the environment, read the plan (what changes in the task definition, which colour
//! goes live, the snapshots taken first, the gates that will watch), then request it.

use crate::api::load::load;
use crate::api::overview::get_overview;
use crate::api::releases::{get_release, plan_deploy, RequestDeploy};
use crate::auth::Permission;
use crate::components::error_panel::ErrorPanel;
use crate::components::user_menu::{may, use_me};
use crate::dto::PlanView;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

#[component]
pub fn DeployPage() -> impl IntoView {
    let query = use_query_map();
    let release_id = move || query.read().get("release").unwrap_or_default();
    let environment = RwSignal::new(String::new());
    let release = load(release_id, get_release);
    let overview = load(|| (), |_| get_overview());
    let plan = load(
        move || (release_id(), environment.get()),
        |(release, environment)| async move {
            if environment.is_empty() {
                return None;
            }
            Some(plan_deploy(release, environment).await)
        },
    );
    let request = ServerAction::<RequestDeploy>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(view)) = request.value().get() {
            navigate(
                &format!("/deployments/{}", view.summary.id),
                Default::default(),
            );
        }
    });
    let admin = move || use_me().is_some_and(|me| may(me, Permission::BreakGlass));
    view! {
        <Title text="Request a deploy"/>
        <h1>"Request a deploy"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || release.get().map(|result| match result {
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
                Ok(release) => {
                    let service = release.service.clone();
                    let environments: Vec<String> = overview
                        .get()
                        .and_then(|o| o.ok())
                        .map(|o| o.environments.into_iter()
                            .filter(|e| e.services.iter().any(|s| s.name == service))
                            .map(|e| e.name)
                            .collect())
                        .unwrap_or_default();
                    view! {
                        <section class="panel" data-testid="release">
                            <h2>{format!("{} {}", release.service, release.version)}</h2>
                            <dl class="facts">
                                <dt>"Image"</dt><dd><code class="wrap">{release.image_ref()}</code></dd>
                                <dt>"Commit"</dt><dd><code>{release.commit.clone()}</code></dd>
                                <dt>"Notes"</dt><dd>{release.notes.clone()}</dd>
                            </dl>
                            <label>"Environment "
                                <select data-testid="environment" on:change=move |ev| environment.set(event_target_value(&ev))>
                                    <option value="">"Choose…"</option>
                                    {environments.into_iter().map(|e| view! { <option value=e.clone()>{e.clone()}</option> }).collect_view()}
                                </select>
                            </label>
                        </section>
                    }.into_any()
                }
            })}
        </Transition>
        <Transition fallback=|| view! { <p class="muted">"Reading the plan from AWS…"</p> }>
            {move || plan.get().flatten().map(|result| match result {
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
                Ok(plan) => view! { <PlanPanel plan=plan.clone()/> <RequestForm plan request admin=admin()/> }.into_any(),
            })}
        </Transition>
        {move || request.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorPanel error/> })}
    }
}

#[component]
fn RequestForm(plan: PlanView, request: ServerAction<RequestDeploy>, admin: bool) -> impl IntoView {
    let frozen = plan.frozen.clone();
    view! {
        <section class="panel">
            <ActionForm action=request attr:class="inline-form" attr:data-testid="request-form">
                <input type="hidden" name="release" value=plan.release_id.clone()/>
                <input type="hidden" name="environment" value=plan.environment.clone()/>
                {frozen.clone().map(|f| view! {
                    <p class="notice warning" role="alert">{format!("{} is frozen: {f}.", plan.environment)}</p>
                })}
                {(frozen.is_some() && admin).then(|| view! {
                    <label>"Break-glass reason (recorded and announced) "
                        <input type="text" name="break_glass" required=true size="50"/>
                    </label>
                })}
                <button class="button primary" type="submit" data-testid="request" disabled={frozen.is_some() && !admin}>
                    {match plan.approvals_required {
                        0 => "Deploy (no approval needed)".to_string(),
                        n => format!("Request deploy ({n} approval{} needed)", if n == 1 { "" } else { "s" }),
                    }}
                </button>
            </ActionForm>
        </section>
    }
}

/// The plan: also shown on the deployment page, frozen as requested.
#[component]
pub fn PlanPanel(plan: PlanView) -> impl IntoView {
    let weights = plan
        .weights
        .iter()
        .map(|w| format!("{w} %"))
        .collect::<Vec<_>>()
        .join(" → ");
    view! {
        <section class="panel" data-testid="plan">
            <h2>"Plan"</h2>
            <p data-testid="colours">
                <span class=format!("colour colour-{}", plan.from_colour)>{plan.from_colour.as_str()}</span>
                " is live ("<code>{plan.live_task_definition.clone()}</code>"); "
                <strong class=format!("colour colour-{}", plan.to_colour)>{plan.to_colour.as_str()}</strong>
                {format!(" goes live with {} tasks, in {}.", plan.desired_count, weights)}
            </p>
            <h3>"Task definition changes"</h3>
            <table class="kpis diff" data-testid="diff">
                <thead><tr><th>"Field"</th><th>"Live"</th><th>"New"</th></tr></thead>
                <tbody>
                    {plan.diff.iter().map(|d| view! {
                        <tr data-field=d.field.clone()>
                            <td><code>{d.field.clone()}</code></td>
                            <td class="before"><code class="wrap">{d.before.clone().unwrap_or_else(|| "—".into())}</code></td>
                            <td class="after"><code class="wrap">{d.after.clone().unwrap_or_else(|| "—".into())}</code></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <h3>"Before deploying"</h3>
            <ul data-testid="snapshots">
                {plan.snapshots.iter().map(|s| view! { <li>{format!("Snapshot {s}")}</li> }).collect_view()}
            </ul>
            <h3>"Health gates (automatic rollback)"</h3>
            <ul data-testid="gates">{plan.gates.iter().map(|g| view! { <li>{g.clone()}</li> }).collect_view()}</ul>
            <p class="muted small">{format!(
                "Ready within {} s; bake {} s after the switch; the old colour is kept {} s for a fast rollback; {} approval(s) needed.",
                plan.ready_timeout_secs, plan.bake_secs, plan.scale_down_delay_secs, plan.approvals_required
            )}</p>
        </section>
    }
}
