//! Deployment history, filtered and paged on the server (keyset: fast at any size), and one deployment: its
//! live step timeline, approvals, plan, the AWS request ids of every change, and the actions the user may take.

use super::deploy::PlanPanel;
use super::releases::short_time;
use crate::api::audit::list_audit_events;
use crate::api::load::load;
use crate::api::releases::{
    endpoint_for, get_deployment, list_deployments, CancelDeployment, ControlDeployment,
    DecideDeployment, RollbackDeployment,
};
use crate::auth::Permission;
use crate::components::deferred::deferred;
use crate::components::error_panel::ErrorPanel;
use crate::components::health_panel::{verdict_label, HealthPanel};
use crate::components::user_menu::{may, use_me};
use crate::dto::{
    AuditFilter, DeploymentAction, DeploymentDetail, DeploymentState, DeploymentSummary, StepView,
};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

fn state_badge(state: DeploymentState) -> impl IntoView {
    view! { <span class=format!("state state-{}", state.as_str()) data-state=state.as_str()>{state.label()}</span> }
}

#[component]
pub fn DeploymentsPage() -> impl IntoView {
    let query = use_query_map();
    let get = move |key: &str| query.read().get(key).filter(|v| !v.is_empty());
    let page = load(
        move || {
            (
                get("environment"),
                get("service"),
                get("state"),
                get("before").and_then(|b| b.parse::<i64>().ok()),
                crate::components::live::deployments_version(),
            )
        },
        |(environment, service, state, before, _)| {
            list_deployments(environment, service, state, before)
        },
    );
    view! {
        <Title text="Deployments"/>
        <h1>"Deployments"</h1>
        <form method="get" action="/deployments" class="filters" data-testid="filters">
            <label>"Environment " <input type="text" name="environment" value=move || get("environment").unwrap_or_default() size="12"/></label>
            <label>"Service " <input type="text" name="service" value=move || get("service").unwrap_or_default() size="10"/></label>
            <label>"State "
                <select name="state">
                    <option value="">"any"</option>
                    {DeploymentState::ALL.into_iter().map(|s| {
                        let selected = move || get("state").as_deref() == Some(s.as_str());
                        view! { <option value=s.as_str() selected=selected>{s.label()}</option> }
                    }).collect_view()}
                </select>
            </label>
            <button class="button" type="submit">"Filter"</button>
        </form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || page.get().map(|result| match result {
                Ok(page) => {
                    let next = page.next_before.map(|seq| {
                        let mut href = format!("/deployments?before={seq}");
                        for key in ["environment", "service", "state"] {
                            if let Some(v) = get(key) {
                                href.push_str(&format!("&{key}={v}"));
                            }
                        }
                        href
                    });
                    deferred(move || view! {
                        <section class="panel">
                            <table class="kpis" data-testid="deployments">
                                <thead><tr><th>"Deployment"</th><th>"Where"</th><th>"State"</th><th>"Requested"</th><th>"Updated"</th></tr></thead>
                                <tbody>{page.deployments.into_iter().map(|d| view! { <SummaryRow d/> }).collect_view()}</tbody>
                            </table>
                            {next.map(|href| view! { <p><a href=href>"Older deployments →"</a></p> })}
                        </section>
                    })
                }
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
            })}
        </Transition>
    }
}

/// Links in loaded content are plain `<a>`: the router still navigates them in the page, and `<A>` looks up the
/// router while rendering, which panics when the client has gone and the render outlives the request (seen at
/// the end of a benchmark run).
#[component]
fn SummaryRow(d: DeploymentSummary) -> impl IntoView {
    view! {
        <tr data-deployment=d.id.clone()>
            <td><a href=format!("/deployments/{}", d.id)>{format!("{} {}", d.service, d.release_version)}</a></td>
            <td>{d.environment.clone()} <span class="muted small">{format!(" {} → {}", d.from_colour, d.to_colour)}</span></td>
            <td>{state_badge(d.state)} {d.reason.clone().map(|r| view! { <br/><span class="muted small">{r}</span> })}</td>
            <td class="small">{short_time(&d.requested_at)}<br/><span class="muted">{d.requested_by_name.clone()}</span></td>
            <td class="small">{short_time(&d.updated_at)}</td>
        </tr>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    decide: ServerAction<DecideDeployment>,
    cancel: ServerAction<CancelDeployment>,
    control: ServerAction<ControlDeployment>,
    rollback: ServerAction<RollbackDeployment>,
}

impl Actions {
    fn version(&self) -> usize {
        self.decide.version().get()
            + self.cancel.version().get()
            + self.control.version().get()
            + self.rollback.version().get()
    }

    fn error(&self) -> Option<AppError> {
        [
            self.decide.value().get().and_then(|r| r.err()),
            self.cancel.value().get().and_then(|r| r.err()),
            self.control.value().get().and_then(|r| r.err()),
            self.rollback.value().get().and_then(|r| r.err()),
        ]
        .into_iter()
        .flatten()
        .next()
    }
}

#[component]
pub fn DeploymentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let actions = Actions {
        decide: ServerAction::new(),
        cancel: ServerAction::new(),
        control: ServerAction::new(),
        rollback: ServerAction::new(),
    };
    // Other replicas' progress reaches this page by a gentle poll while the deployment is under way.
    let tick = RwSignal::new(0u32);
    let deployment = load(
        move || {
            (
                id(),
                actions.version(),
                crate::components::live::deployments_version(),
                tick.get(),
            )
        },
        |(id, ..)| get_deployment(id),
    );
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || {
                let running = deployment
                    .get_untracked()
                    .and_then(|r| r.ok())
                    .is_some_and(|d| !d.summary.state.is_terminal());
                if running {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_secs(2),
        );
        on_cleanup(move || {
            if let Ok(handle) = handle {
                handle.clear();
            }
        });
    }
    view! {
        <Title text="Deployment"/>
        {move || actions.error().map(|error| view! { <ErrorPanel error/> })}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || deployment.get().map(|result| match result {
                Ok(view) => view! { <DeploymentBody view actions/> }.into_any(),
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn DeploymentBody(view: DeploymentDetail, actions: Actions) -> impl IntoView {
    let s = view.summary.clone();
    let me = use_me();
    let allowed: Vec<DeploymentAction> = view
        .actions
        .iter()
        .copied()
        .filter(|a| me.is_some_and(|me| may(me, a.permission())))
        .collect();
    let typed = view.plan.typed_confirmation;
    view! {
        <h1 data-testid="deployment-title">
            {format!("{} {} → {} ", s.service, s.release_version, s.environment)}
            {state_badge(s.state)}
            {view.paused.then(|| view! { <span class="state state-paused">" paused"</span> })}
        </h1>
        <p class="muted">
            {format!("Requested by {} at {}; {} → {}.", s.requested_by_name, short_time(&s.requested_at), s.from_colour, s.to_colour)}
            {view.queue_position.map(|p| format!(" Queued: position {p}"))}
            {view.blocked_by.clone().map(|b| view! { " behind " <a href=format!("/deployments/{b}")>{b.clone()}</a> })}
        </p>
        {s.reason.clone().map(|r| view! { <p class="notice" data-testid="reason">{r}</p> })}
        {view.break_glass.clone().map(|r| view! { <p class="notice warning" data-testid="break-glass">{format!("Break-glass: {r}")}</p> })}
        {(!allowed.is_empty()).then(|| view! {
            <section class="panel" data-testid="actions">
                <h2>"Actions"</h2>
                <div class="action-row">
                    {allowed.into_iter().map(|action| action_button(action, s.id.clone(), s.service.clone(), typed, actions)).collect_view()}
                </div>
            </section>
        })}
        <section class="panel" data-testid="evidence">
            <h2>"Evidence now"</h2>
            <p data-testid="live-health" data-verdict=view.live_verdict.map(verdict_label).unwrap_or("unknown")>
                {format!("{} (live) health gate: ", s.from_colour)}
                <strong>{view.live_verdict.map(verdict_label).unwrap_or("no reading yet")}</strong>
                {(!view.live_fired.is_empty()).then(|| format!(" — {}", view.live_fired.join("; ")))}
            </p>
            {view.backups.clone().map(|b| view! {
                <p data-testid="backup-verdict" data-recoverable=b.recoverable.label()>
                    "Backups: " <strong>{b.recoverable.label()}</strong>
                    {b.recovery_point.as_deref().map(|p| format!("; recovery point {}", short_time(p)))}
                    {(!b.failing.is_empty()).then(|| format!(" — {}", b.failing.join("; ")))}
                    " " <a href=format!("/env/{}/backups", s.environment)>"details"</a>
                </p>
            })}
            <p class="small">{view.release.notes.clone()}
                {view.release.ticket_url.clone().map(|url| view! { " " <a href=url rel="noopener noreferrer">"ticket"</a> })}
            </p>
        </section>
        <section class="panel" data-testid="approvals">
            <h2>{format!("Approvals: {} of {} valid", view.approvals_valid, view.plan.approvals_required)}</h2>
            <ul>
                {view.approvals.iter().map(|a| view! {
                    <li data-decision=a.decision.clone()>
                        <strong>{a.actor_name.clone()}</strong>
                        {format!(" {} at {}", if a.decision == "approve" { "approved" } else { "rejected" }, short_time(&a.decided_at))}
                        {(!a.reason.is_empty()).then(|| format!(": {}", a.reason))}
                        {a.expired.then(|| view! { <span class="state state-failed">" expired"</span> })}
                    </li>
                }).collect_view()}
            </ul>
        </section>
        <section class="panel" data-testid="timeline">
            <h2>"Steps"</h2>
            <ol class="timeline">{view.steps.iter().map(|step| view! { <StepItem step=step.clone()/> }).collect_view()}</ol>
        </section>
        {view.outcome.clone().map(|o| view! {
            <section class="panel"><h2>"Health gate"</h2><pre class="small wrap" data-testid="outcome">{o}</pre></section>
        })}
        {view.new_colour_health.clone().map(|health| view! {
            <div data-testid="new-colour-health">
                <HealthPanel health title=format!("{} (new colour) health; lines mark this deployment's switches", s.to_colour)/>
            </div>
        })}
        <SnapshotsPanel steps=view.steps.clone()/>
        <DeploymentAudit id=s.id.clone()/>
        <PlanPanel plan=view.plan.clone()/>
    }
}

/// The snapshots this deployment took before changing anything: what a restore would start from.
#[component]
fn SnapshotsPanel(steps: Vec<StepView>) -> impl IntoView {
    let snapshots: Vec<StepView> = steps
        .into_iter()
        .filter(|s| s.kind.starts_with("snapshot_"))
        .collect();
    (!snapshots.is_empty()).then(|| {
        view! {
            <section class="panel" data-testid="snapshots">
                <h2>"Snapshots taken"</h2>
                <ul>
                    {snapshots.into_iter().map(|s| view! {
                        <li data-state=s.state.clone()>
                            <strong>{s.title.clone()}</strong>
                            {format!(" — {}", s.state)}
                            {s.finished_at.as_deref().map(|t| format!(" at {}", short_time(t)))}
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        }
    })
}

/// The audit events about this deployment, newest first, for those who may read the audit trail.
#[component]
fn DeploymentAudit(id: String) -> impl IntoView {
    let me = use_me();
    if !me.is_some_and(|me| may(me, Permission::ViewAudit)) {
        return ().into_any();
    }
    let target = format!("deployment/{id}");
    let filter = AuditFilter {
        target: Some(target.clone()),
        ..AuditFilter::default()
    };
    let events = load(
        move || filter.clone(),
        |filter| list_audit_events(filter, None),
    );
    view! {
        <section class="panel" data-testid="deployment-audit">
            <h2>"Audit events"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || events.get().map(|result| match result {
                    Ok(page) => view! {
                        <ul class="audit-brief small">
                            {page.events.into_iter().map(|e| view! {
                                <li data-action=e.record.action.clone() data-outcome=e.record.outcome.as_str()>
                                    <code>{short_time(&e.occurred_at)}</code>" "
                                    <strong>{e.record.action.clone()}</strong>
                                    {format!(" by {} — {}", e.record.actor, e.record.outcome.as_str())}
                                    {(!e.record.reason.is_empty()).then(|| format!(": {}", e.record.reason))}
                                </li>
                            }).collect_view()}
                        </ul>
                        <p class="small"><a href=format!("/audit?target={}", target.clone())>"All of them in the audit trail"</a></p>
                    }.into_any(),
                    Err(error) => view! { <ErrorPanel error/> }.into_any(),
                })}
            </Transition>
        </section>
    }
    .into_any()
}

#[component]
fn StepItem(step: StepView) -> impl IntoView {
    view! {
        <li class=format!("step step-{} phase-{}", step.state, step.phase) data-kind=step.kind.clone() data-state=step.state.clone()>
            <span class="step-state">{step.state.clone()}</span>
            " " <strong>{step.title.clone()}</strong>
            {(step.phase != "forward").then(|| view! { <span class="muted small">{format!(" ({})", step.phase)}</span> })}
            {(!step.detail.is_empty()).then(|| view! { <div class="small">{step.detail.clone()}</div> })}
            {step.error.clone().map(|e| view! { <div class="small error-text">{e}</div> })}
            <div class="muted small">
                {step.started_at.as_deref().map(short_time)}
                {step.finished_at.as_deref().map(|t| format!(" → {}", short_time(t)))}
                {(step.attempts > 1).then(|| format!(" · {} attempts", step.attempts))}
                {step.applied_by.clone().map(|a| format!(" · {}", if a == "observed" { "found already done" } else { "changed by Signalbox" }))}
            </div>
            {(!step.calls.is_empty()).then(|| view! {
                <ul class="calls small">{step.calls.iter().map(|c| view! {
                    <li>{format!("{} {} ", c.operation, c.outcome)}<code>{c.request_id.clone().unwrap_or_else(|| "no request id".into())}</code></li>
                }).collect_view()}</ul>
            })}
        </li>
    }
}

fn action_button(
    action: DeploymentAction,
    id: String,
    service: String,
    typed: bool,
    actions: Actions,
) -> AnyView {
    let asking = RwSignal::new(false);
    let needs_reason = matches!(action, DeploymentAction::Reject);
    let needs_typing = typed && action.needs_typed_confirmation();
    let fields = move || {
        let id = id.clone();
        let service = service.clone();
        view! {
            <input type="hidden" name="id" value=id/>
            <input type="hidden" name="action" value=action.as_str()/>
            {needs_reason.then(|| view! { <label>"Reason " <input type="text" name="reason" required=true size="40" data-testid="reason-input"/></label> })}
            {needs_typing.then(|| view! {
                <label>{format!("Type {service} to confirm ")}
                    <input type="text" name="confirm" required=true size="12" autocomplete="off" data-testid="confirm-input"/>
                </label>
            })}
            <button class="button primary" type="submit" data-testid="confirm">{format!("Confirm: {}", action.label())}</button>
        }
    };
    let form = move || {
        let content = fields();
        match endpoint_for(action) {
            "decide" => view! { <ActionForm action=actions.decide attr:class="inline-form">{content}</ActionForm> }.into_any(),
            "cancel" => view! { <ActionForm action=actions.cancel attr:class="inline-form">{content}</ActionForm> }.into_any(),
            "control" => view! { <ActionForm action=actions.control attr:class="inline-form">{content}</ActionForm> }.into_any(),
            _ => view! { <ActionForm action=actions.rollback attr:class="inline-form">{content}</ActionForm> }.into_any(),
        }
    };
    view! {
        <span class="confirmed" data-action=action.as_str()>
            <button class="button" type="button" on:click=move |_| asking.set(true) disabled=move || asking.get()>{action.label()}</button>
            <Show when=move || asking.get()>
                <span class="confirm-box">
                    {form()}
                    <button class="button" type="button" on:click=move |_| asking.set(false)>"Cancel"</button>
                </span>
            </Show>
        </span>
    }
    .into_any()
}
