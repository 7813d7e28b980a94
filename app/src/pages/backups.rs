//! One environment's backups: "recoverable now?" first, then every policy check with its reason, the database,
//! its snapshots and their copies in the DR region, Redis, restore drills, and the actions (role-gated, confirmed,
//! audited) with where each stands.

use crate::api::backups::{
    get_backups, CopySnapshotToDr, RecordDrill, TakeRdsSnapshot, TakeRedisSnapshot,
};
use crate::api::load::load;
use crate::auth::Permission;
use crate::components::error_panel::ErrorPanel;
use crate::components::freshness::Freshness;
use crate::components::user_menu::{may, use_me};
use crate::dto::{BackupsView, CheckStatus, DrCopy, Recoverable};
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

fn age(secs: Option<i64>) -> String {
    match secs {
        None => "—".into(),
        Some(s) if s >= 2 * 86_400 => format!("{} d", s / 86_400),
        Some(s) if s >= 2 * 3600 => format!("{} h", s / 3600),
        Some(s) => format!("{} min", s / 60),
    }
}

fn when(rfc3339: &Option<String>) -> String {
    rfc3339
        .as_deref()
        .map(|t| format!("{} UTC", t.get(..16).unwrap_or(t).replace('T', " ")))
        .unwrap_or_else(|| "—".into())
}

fn status_class(status: CheckStatus) -> String {
    format!("check check-{}", status.label())
}

fn verdict_class(recoverable: Recoverable) -> &'static str {
    match recoverable {
        Recoverable::Yes => "recoverable recoverable-yes",
        Recoverable::AtRisk => "recoverable recoverable-at-risk",
        Recoverable::No => "recoverable recoverable-no",
        Recoverable::Unknown => "recoverable recoverable-unknown",
    }
}

#[component]
pub fn BackupsPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("env").unwrap_or_default();
    let rds = ServerAction::<TakeRdsSnapshot>::new();
    let redis = ServerAction::<TakeRedisSnapshot>::new();
    let copy = ServerAction::<CopySnapshotToDr>::new();
    let drill = ServerAction::<RecordDrill>::new();
    let backups = load(
        move || {
            (
                name(),
                crate::components::live::backups_version(),
                rds.version().get()
                    + redis.version().get()
                    + copy.version().get()
                    + drill.version().get(),
            )
        },
        |(name, _, _)| get_backups(name),
    );
    let operate = move || use_me().is_some_and(|me| may(me, Permission::OperateBackups));
    // The last action's outcome, whichever it was.
    let outcome = move || {
        let text = |r: Option<Result<String, AppError>>, what: &str| {
            r.map(|r| r.map(|id| format!("{what}: {id}")))
        };
        text(rds.value().get(), "RDS snapshot started")
            .or_else(|| text(redis.value().get(), "Redis snapshot started"))
            .or_else(|| text(copy.value().get(), "Copy to the DR region started"))
            .or_else(|| {
                drill.value().get().map(|r| {
                    r.map(|d| {
                        format!(
                            "Restore drill recorded: {} on {}",
                            d.snapshot,
                            d.performed_at.get(..10).unwrap_or("")
                        )
                    })
                })
            })
    };
    view! {
        // Not `name()`: the title is rendered after the page, when the parameters may be disposed (see service.rs).
        <Title text=move || params.try_with(|p| format!("Backups: {}", p.get("env").unwrap_or_default())).unwrap_or_else(|| "Backups".into())/>
        <h1>"Backups " <span class="muted">{name}</span></h1>
        {move || outcome().map(|result| match result {
            Ok(message) => view! { <p class="notice" role="status" data-testid="action-outcome">{message}</p> }.into_any(),
            Err(error) => view! { <ErrorPanel error/> }.into_any(),
        })}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || backups.get().map(|result| match result {
                Ok(view) => view! { <BackupsBody view operate=operate() rds redis copy drill/> }.into_any(),
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
            })}
        </Transition>
    }
}

/// A button that asks before it acts: the first click shows the question, the form (with its Confirm button)
/// and Cancel. `form` builds the action's form for the environment.
fn confirm_button(
    label: &'static str,
    testid: &'static str,
    question: String,
    form: impl Fn(String) -> AnyView + Send + Sync + 'static,
    environment: String,
) -> AnyView {
    let asking = RwSignal::new(false);
    view! {
        <span class="confirmed" data-testid=testid>
            <button class="button" type="button" on:click=move |_| asking.set(true) disabled=move || asking.get()>{label}</button>
            <Show when=move || asking.get()>
                <span class="confirm-box">
                    <span class="small">{question.clone()}</span>
                    {form(environment.clone())}
                    <button class="button" type="button" on:click=move |_| asking.set(false)>"Cancel"</button>
                </span>
            </Show>
        </span>
    }
    .into_any()
}

#[component]
fn BackupsBody(
    view: BackupsView,
    operate: bool,
    rds: ServerAction<TakeRdsSnapshot>,
    redis: ServerAction<TakeRedisSnapshot>,
    copy: ServerAction<CopySnapshotToDr>,
    drill: ServerAction<RecordDrill>,
) -> impl IntoView {
    let verdict = view.verdict.clone();
    let environment = view.environment.clone();
    let dr_region = view.policy.dr_region.clone().unwrap_or_else(|| "—".into());
    let policy = view.policy.clone();
    view! {
        <section class=format!("panel {}", verdict_class(verdict.recoverable)) data-testid="verdict" data-recoverable=verdict.recoverable.label()>
            <div class="environment-head">
                <h2>"Recoverable now? " <strong>{verdict.recoverable.label()}</strong></h2>
                <Freshness state=view.state.clone()/>
            </div>
            <p>
                "Recovery point: " <strong>{when(&verdict.recovery_point)}</strong>
                {verdict.data_loss_secs.map(|s| format!(" — a restore now would lose {} of data", age(Some(s))))}
            </p>
            {(!verdict.failing.is_empty()).then(|| view! {
                <ul class="failing">{verdict.failing.iter().map(|f| view! { <li>{f.clone()}</li> }).collect_view()}</ul>
            })}
        </section>

        <section class="panel" data-testid="checks">
            <h2>"Policy checks"</h2>
            <table class="kpis checks">
                <thead><tr><th>"Area"</th><th>"Check"</th><th>"State"</th><th>"Why"</th></tr></thead>
                <tbody>
                    {view.checks.iter().map(|c| view! {
                        <tr data-check=c.id.clone() data-status=c.status.label()>
                            <td>{c.area.clone()}</td>
                            <td>{c.name.clone()}{c.critical.then(|| view! { <span class="muted small">" (decides recoverability)"</span> })}</td>
                            <td><span class=status_class(c.status)>{c.status.label()}</span></td>
                            <td>{c.reason.clone()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <p class="muted small">{format!(
                "Policy: RDS backups kept {} days in {} UTC, point-in-time recovery within {} min; manual snapshots kept {} days and copied to {}; Redis daily within {} h, kept {} days; a restore drill every {} days.",
                policy.rds_retention_days, policy.rds_backup_window, policy.pitr_max_lag_minutes, policy.manual_retention_days,
                dr_region, policy.redis_max_age_hours, policy.redis_retention_days, policy.drill_interval_days
            )}</p>
        </section>

        {view.database.clone().map(|db| view! {
            <section class="panel" data-testid="database">
                <div class="environment-head">
                    <h2>"RDS " <code>{db.id.clone()}</code></h2>
                    {operate.then(|| confirm_button(
                        "Take RDS snapshot now", "take-rds-snapshot",
                        format!("Start a manual snapshot of {} now?", db.id),
                        move |env: String| view! {
                            <ActionForm action=rds attr:class="inline-form">
                                <input type="hidden" name="environment" value=env/>
                                <button class="button primary" type="submit">"Confirm"</button>
                            </ActionForm>
                        }.into_any(),
                        environment.clone(),
                    ))}
                </div>
                <dl class="facts">
                    <dt>"Engine, status"</dt><dd>{format!("{}, {}", db.engine, db.status)}</dd>
                    <dt>"Automated backups"</dt><dd>{format!("kept {} days, window {} UTC", db.retention_days, db.backup_window.clone().unwrap_or_else(|| "—".into()))}</dd>
                    <dt>"Latest restorable time"</dt><dd>{when(&db.latest_restorable_time)} {db.pitr_lag_secs.map(|s| format!(" ({} ago)", age(Some(s))))}</dd>
                    <dt>"Multi-AZ, encryption"</dt><dd>{format!("{}, {}", if db.multi_az { "Multi-AZ" } else { "single zone" }, if db.encrypted { "encrypted" } else { "NOT encrypted" })}</dd>
                </dl>
                <h3 class="small-head">"Snapshots"</h3>
                <table class="kpis snapshots">
                    <thead><tr><th>"Snapshot"</th><th>"Type"</th><th>"Status"</th><th>"Created"</th><th>"Age"</th><th>"Size"</th><th>"Encrypted"</th><th>{format!("Copy in {dr_region}")}</th></tr></thead>
                    <tbody>
                        {view.snapshots.iter().map(|s| {
                            let copy_cell = match &s.dr_copy {
                                DrCopy::Present { .. } => view! { <span class="check check-green">"copied"</span> }.into_any(),
                                DrCopy::Copying { progress, .. } => view! { <span class="check check-amber">{format!("copying {}", progress.map(|p| format!("{p} %")).unwrap_or_default())}</span> }.into_any(),
                                DrCopy::Missing => {
                                    let snapshot = s.id.clone();
                                    let button = (operate && s.status == "available" && !s.past_retention).then(|| confirm_button(
                                        "Copy", "copy-to-dr",
                                        format!("Copy {} to {}?", s.id, dr_region),
                                        move |env: String| {
                                            let id = snapshot.clone();
                                            view! {
                                                <ActionForm action=copy attr:class="inline-form">
                                                    <input type="hidden" name="environment" value=env/>
                                                    <input type="hidden" name="snapshot" value=id/>
                                                    <button class="button primary" type="submit">"Confirm"</button>
                                                </ActionForm>
                                            }.into_any()
                                        },
                                        environment.clone(),
                                    ));
                                    view! { <span class="check check-red">"missing"</span> " " {button} }.into_any()
                                }
                                DrCopy::Unknown { reason } => view! { <span class="check check-unknown" title=reason.clone()>"unknown"</span> }.into_any(),
                                DrCopy::NotRequired => view! { <span class="muted">"—"</span> }.into_any(),
                            };
                            view! {
                                <tr data-snapshot=s.id.clone() data-kind=s.kind.clone()>
                                    <td><code>{s.id.clone()}</code></td>
                                    <td>{s.kind.clone()}</td>
                                    <td>{match (s.status.as_str(), s.progress) {
                                        ("available", _) => "available".to_string(),
                                        (other, Some(p)) => format!("{other} {p} %"),
                                        (other, None) => other.to_string(),
                                    }}</td>
                                    <td class="small">{when(&s.created_at)}</td>
                                    <td class:bad=s.past_retention>{age(s.age_secs)}{s.past_retention.then_some(" (past retention)")}</td>
                                    <td class="num">{s.size_gb.map(|g| format!("{g} GiB")).unwrap_or_default()}</td>
                                    <td>{if s.encrypted { "yes" } else { "NO" }}</td>
                                    <td>{copy_cell}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}

        {view.cache.clone().map(|cache| view! {
            <section class="panel" data-testid="redis">
                <div class="environment-head">
                    <h2>"Redis " <code>{cache.id.clone()}</code></h2>
                    {operate.then(|| confirm_button(
                        "Take Redis snapshot now", "take-redis-snapshot",
                        format!("Start a manual snapshot of {} now?", cache.id),
                        move |env: String| view! {
                            <ActionForm action=redis attr:class="inline-form">
                                <input type="hidden" name="environment" value=env/>
                                <button class="button primary" type="submit">"Confirm"</button>
                            </ActionForm>
                        }.into_any(),
                        environment.clone(),
                    ))}
                </div>
                <p class="small">{format!("Automatic snapshots kept {} days, window {} UTC.", cache.retention_days, cache.snapshot_window.clone().unwrap_or_else(|| "—".into()))}</p>
                <table class="kpis">
                    <thead><tr><th>"Snapshot"</th><th>"Source"</th><th>"Status"</th><th>"Created"</th><th>"Age"</th></tr></thead>
                    <tbody>
                        {cache.snapshots.iter().map(|s| view! {
                            <tr data-redis-snapshot=s.name.clone()>
                                <td><code>{s.name.clone()}</code></td><td>{s.source.clone()}</td><td>{s.status.clone()}</td>
                                <td class="small">{when(&s.created_at)}</td><td>{age(s.age_secs)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        })}

        <section class="panel" data-testid="drills">
            <h2>"Restore drills"</h2>
            {if view.drills.is_empty() {
                view! { <p class="muted">"No restore drill recorded."</p> }.into_any()
            } else {
                view! {
                    <table class="kpis">
                        <thead><tr><th>"When"</th><th>"By"</th><th>"Snapshot"</th><th>"Took"</th><th>"Result"</th><th>"Notes"</th></tr></thead>
                        <tbody>
                            {view.drills.iter().map(|d| view! {
                                <tr data-drill=d.id>
                                    <td>{d.performed_at.get(..10).unwrap_or("").to_string()}</td>
                                    <td>{d.performed_by.clone()}{(d.recorded_by != d.performed_by).then(|| view! { <div class="muted small">{format!("recorded by {}", d.recorded_by)}</div> })}</td>
                                    <td><code>{d.snapshot.clone()}</code></td>
                                    <td>{format!("{} min", d.duration_minutes)}</td>
                                    <td><span class=if d.passed { "check check-green" } else { "check check-red" }>{if d.passed { "passed" } else { "failed" }}</span></td>
                                    <td class="small">{d.notes.clone()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            {operate.then(|| view! {
                <details class="drill-form">
                    <summary>"Record a restore drill"</summary>
                    <ActionForm action=drill attr:class="token-form">
                        <input type="hidden" name="environment" value=environment.clone()/>
                        <label>"Performed on " <input name="performed_at" id="drill-date" type="date" required/></label>
                        <label>"By (if not you) " <input name="performed_by" id="drill-by" maxlength="100"/></label>
                        <label>"Snapshot restored " <input name="snapshot" id="drill-snapshot" required maxlength="255"/></label>
                        <label>"Restore took (minutes) " <input name="duration_minutes" id="drill-minutes" type="number" min="1" max="10080" required/></label>
                        <label class="inline"><input type="checkbox" name="passed" id="drill-passed" value="true"/> " Data checks passed"</label>
                        <label>"Notes " <textarea name="notes" id="drill-notes" maxlength="2000" rows="2"></textarea></label>
                        <button class="button" type="submit" id="record-drill">"Record drill"</button>
                    </ActionForm>
                </details>
            })}
        </section>

        <section class="panel" data-testid="actions">
            <h2>"Recent backup actions"</h2>
            {if view.actions.is_empty() {
                view! { <p class="muted">"None from this console yet."</p> }.into_any()
            } else {
                view! {
                    <table class="kpis">
                        <thead><tr><th>"Action"</th><th>"Target"</th><th>"By"</th><th>"When"</th><th>"State"</th></tr></thead>
                        <tbody>
                            {view.actions.iter().map(|a| view! {
                                <tr data-action=a.action.clone() data-state=a.state.clone()>
                                    <td>{a.action.trim_start_matches("backups.").replace('_', " ")}</td>
                                    <td><code>{a.target.clone()}</code></td>
                                    <td>{a.requested_by.clone()}</td>
                                    <td class="small">{when(&Some(a.requested_at.clone()))}</td>
                                    <td>{a.state.clone()}{a.detail.clone().map(|d| view! { <div class="muted small">{d}</div> })}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
