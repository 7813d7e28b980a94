//! `ReleaseService`: releases, plans, requests, the deployment pages' views and people's actions. Each change
//! is one transaction with its audit event; refusals are audited as denied.

use super::actions::{self, available, millis, state_of, valid_approvals, Context};
use super::plan::{Phase, Step};
use super::record::step_row;
use super::{Engine, EnvironmentRuntime};
use crate::storage::{
    ApprovalRow, AwsCallRow, Commit, CommitOutcome, DeploymentQuery, DeploymentRow, ReleaseRow,
    StepRow,
};
use app::auth::Principal;
use app::dto::{
    ApprovalView, AuditRecord, AwsCallView, DeployMarker, DeploymentAction, DeploymentDetail,
    DeploymentFilter, DeploymentPage, DeploymentState, DeploymentSummary, NewRelease, Outcome,
    PlanView, ReleasePage, ReleaseView, ServiceHealth, StepView,
};
use app::error::AppError;
use app::services::ReleaseService;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

fn invalid(field: &str, message: impl Into<String>) -> AppError {
    AppError::Validation {
        field: field.into(),
        message: message.into(),
    }
}

fn time_text(at: OffsetDateTime) -> String {
    crate::audit::chain::canonical_time(at)
}

fn is_slug(text: &str, extra: &[char]) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// Checks a release as CI sent it; the error names the field.
pub fn validate_release(release: &NewRelease, services: &[&str]) -> Result<(), AppError> {
    if !services.contains(&release.service.as_str()) {
        return Err(invalid(
            "service",
            format!(
                "no environment has a service {:?} (configured: {})",
                release.service,
                services.join(", ")
            ),
        ));
    }
    if !is_slug(&release.version, &['.', '-', '_', '+']) {
        return Err(invalid(
            "version",
            "1 to 128 letters, digits, '.', '-', '_' or '+'",
        ));
    }
    if release.image.trim().is_empty()
        || release.image.chars().count() > 512
        || release
            .image
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "image",
            "an image reference without spaces, at most 512 characters",
        ));
    }
    if let Some(digest) = &release.digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64
            || !hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        {
            return Err(invalid(
                "digest",
                "sha256: followed by 64 lowercase hex digits",
            ));
        }
    }
    let commit_ok = release.commit.is_empty()
        || ((7..=40).contains(&release.commit.len())
            && release.commit.chars().all(|c| c.is_ascii_hexdigit()));
    if !commit_ok {
        return Err(invalid("commit", "7 to 40 hex digits"));
    }
    if release.notes.chars().count() > 10_000 {
        return Err(invalid("notes", "at most 10,000 characters"));
    }
    app::validate::text("notes", &release.notes, 10_000, true)?;
    if let Some(url) = &release.ticket_url {
        let ok = url::Url::parse(url)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "http" | "https"));
        // A URI is ASCII (RFC 3986): a link with other characters arrives percent-encoded.
        if !ok || !url.is_ascii() || url.len() > 1000 || url.chars().any(|c| c.is_control()) {
            return Err(invalid(
                "ticket_url",
                "an http(s) URL, ASCII (percent-encoded)",
            ));
        }
    }
    for (name, value) in &release.environment {
        let first_ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_');
        if !first_ok || !is_slug(name, &['_']) || name.chars().any(|c| c.is_ascii_lowercase()) {
            return Err(invalid(
                "environment",
                format!("{name:?} is not a variable name (A-Z, 0-9, _)"),
            ));
        }
        if value.chars().count() > 4096 || value.chars().any(|c| c.is_control()) {
            return Err(invalid(
                "environment",
                format!("the value of {name} is too long or has control characters"),
            ));
        }
    }
    for (field, value) in [("cpu", &release.cpu), ("memory", &release.memory)] {
        if let Some(v) = value {
            if v.is_empty() || v.len() > 6 || !v.chars().all(|c| c.is_ascii_digit()) {
                return Err(invalid(
                    field,
                    "a whole number of CPU units or MiB, as ECS takes it",
                ));
            }
        }
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize, Default)]
struct ReleaseExtras {
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    cpu: Option<String>,
    #[serde(default)]
    memory: Option<String>,
}

pub fn release_view(row: &ReleaseRow) -> ReleaseView {
    let extras: ReleaseExtras = serde_json::from_str(&row.change).unwrap_or_default();
    ReleaseView {
        id: row.id.clone(),
        service: row.service.clone(),
        version: row.version.clone(),
        image: row.image.clone(),
        digest: row.digest.clone(),
        commit: row.commit_sha.clone(),
        notes: row.notes.clone(),
        ticket_url: row.ticket_url.clone(),
        environment: extras.environment,
        cpu: extras.cpu,
        memory: extras.memory,
        registered_by: row.registered_by.clone(),
        registered_at: time_text(row.registered_at),
    }
}

fn summary(row: &DeploymentRow, plan: &PlanView) -> DeploymentSummary {
    listed(row, plan.release_version.clone())
}

/// A row of a history page, which carries its release's version instead of the plan.
fn listed(row: &DeploymentRow, release_version: String) -> DeploymentSummary {
    DeploymentSummary {
        id: row.id.clone(),
        seq: row.seq,
        environment: row.environment.clone(),
        service: row.service.clone(),
        release_id: row.release_id.clone(),
        release_version,
        state: state_of(row),
        from_colour: actions::colour(&row.from_colour),
        to_colour: actions::colour(&row.to_colour),
        requested_by: row.requested_by.clone(),
        requested_by_name: row.requested_by_name.clone(),
        requested_at: time_text(row.requested_at),
        updated_at: time_text(row.updated_at),
        finished_at: row.finished_at.map(time_text),
        reason: row.reason.clone(),
    }
}

fn plan_of(row: &DeploymentRow) -> Result<PlanView, AppError> {
    serde_json::from_str(&row.plan).map_err(|e| {
        let reference = crate::identity::tokens::short_reference();
        tracing::error!(%reference, deployment = %row.id, error = %e, "stored plan unreadable");
        AppError::Internal { reference }
    })
}

fn step_view(row: &StepRow, calls: &[AwsCallRow]) -> StepView {
    StepView {
        seq: row.seq,
        kind: row.kind.clone(),
        title: Step::from_row(row).title(),
        phase: row.phase.clone(),
        state: row.state.clone(),
        attempts: row.attempts,
        detail: row.detail.clone(),
        error: row.error.clone(),
        started_at: row.started_at.map(time_text),
        finished_at: row.finished_at.map(time_text),
        applied_by: row.applied_by.clone(),
        not_before: row.not_before.and_then(|ms| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .ok()
                .map(time_text)
        }),
        calls: calls
            .iter()
            .filter(|c| c.step_seq == row.seq)
            .map(|c| AwsCallView {
                operation: c.operation.clone(),
                request_id: c.request_id.clone(),
                outcome: c.outcome.clone(),
                error_code: c.error_code.clone(),
                at: time_text(c.at),
            })
            .collect(),
    }
}

/// How far back the charts' deploy markers reach: the longest chart (the SLO window) and then some.
const MARKER_DAYS: i64 = 35;
/// Markers come from this many newest deployments of a service at most.
const MARKER_DEPLOYMENTS: u32 = 500;

/// A switch that moved traffic, as a chart marker; `None` for a step that is not a switch.
fn marker(
    deployment_id: &str,
    version: &str,
    phase: &str,
    params: &str,
    at: OffsetDateTime,
) -> Option<DeployMarker> {
    let Ok(Step::Switch { to, percent }) = serde_json::from_str::<Step>(params) else {
        return None;
    };
    let share = match percent {
        100 => format!("all traffic to {to}"),
        p => format!("{p} % to {to}"),
    };
    let rollback = Phase::parse(phase) == Phase::Rollback;
    Some(DeployMarker {
        at: at.unix_timestamp(),
        deployment_id: deployment_id.to_string(),
        label: if rollback {
            format!("rollback of {version} ({deployment_id}): {share}")
        } else {
            format!("{version} ({deployment_id}): {share}")
        },
        rollback,
    })
}

fn approval_view(row: &ApprovalRow, now: OffsetDateTime) -> ApprovalView {
    ApprovalView {
        actor: row.actor.clone(),
        actor_name: row.actor_name.clone(),
        decision: row.decision.clone(),
        reason: row.reason.clone(),
        decided_at: time_text(row.decided_at),
        expires_at: time_text(row.expires_at),
        expired: row.decision == "approve" && row.expires_at <= now,
    }
}

pub struct EngineReleases {
    engine: Arc<Engine>,
    markers: super::marker_cache::MarkerCache,
}

impl EngineReleases {
    pub fn new(engine: Arc<Engine>) -> Self {
        EngineReleases {
            engine,
            markers: Default::default(),
        }
    }

    fn is_configured(&self, environment: &str, service: &str) -> bool {
        self.engine
            .environment(environment)
            .is_some_and(|e| e.config.services.iter().any(|s| s.name == service))
    }

    fn environment(&self, name: &str) -> Result<&EnvironmentRuntime, AppError> {
        self.engine
            .environment(name)
            .ok_or_else(|| AppError::not_found(format!("environment {name:?}")))
    }

    fn configured_services(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .engine
            .environments
            .iter()
            .flat_map(|e| e.config.services.iter().map(|s| s.name.as_str()))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The release `id`, sent as `field`.
    async fn release_row(&self, field: &str, id: &str) -> Result<ReleaseRow, AppError> {
        app::validate::key(field, id)?;
        self.engine
            .storage
            .release(id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("release {id:?}")))
    }

    async fn view(&self, row: DeploymentRow) -> Result<DeploymentDetail, AppError> {
        let storage = &self.engine.storage;
        let now = OffsetDateTime::now_utc();
        let (release, steps, approvals, calls) = tokio::try_join!(
            self.release_row("release", &row.release_id),
            async { Ok::<_, AppError>(storage.steps(&row.id).await?) },
            async { Ok::<_, AppError>(storage.approvals(&row.id).await?) },
            async { Ok::<_, AppError>(storage.aws_calls(&row.id).await?) },
        )?;
        let plan = plan_of(&row)?;
        let state = state_of(&row);
        let runtime = self.engine.environment(&row.environment);
        let judgement =
            runtime.and_then(|env| env.health.judgement(&row.service, plan.from_colour));
        // The new colour's health with this deployment's switches on its charts, once it has tasks: the bake, watched.
        let deployed = steps
            .iter()
            .any(|s| s.kind == "deploy_idle" && s.state == "done");
        let new_colour_health = runtime
            .filter(|_| deployed)
            .and_then(|env| env.health.service(&row.service))
            .map(ServiceHealth::charted_only)
            .map(|mut health| {
                let to = plan.to_colour;
                health.colours.retain(|c| c.colour == to);
                health.fleet.retain(|f| f.colour == to);
                health.alarms.retain(|a| a.colour == Some(to));
                health.slo = None;
                health.deploy_markers = steps
                    .iter()
                    .filter(|s| s.state == "done")
                    .filter_map(|s| {
                        marker(
                            &row.id,
                            &plan.release_version,
                            &s.phase,
                            &s.params,
                            s.finished_at?,
                        )
                    })
                    .collect();
                health
            });
        let backups = match runtime {
            Some(env) => Some(env.backups.view(&env.region).await.verdict),
            None => None,
        };
        let (queue_position, blocked_by) = if state == DeploymentState::Queued {
            let lane = storage.lane(&row.environment, &row.service).await?;
            let position = lane
                .iter()
                .filter(|d| d.state == DeploymentState::Queued.as_str() && d.seq <= row.seq)
                .count() as u32;
            let holder = lane
                .iter()
                .find(|d| {
                    !matches!(
                        state_of(d),
                        DeploymentState::Queued | DeploymentState::Requested
                    )
                })
                .map(|d| d.id.clone());
            (Some(position), holder)
        } else {
            (None, None)
        };
        Ok(DeploymentDetail {
            summary: summary(&row, &plan),
            release: release_view(&release),
            approvals_valid: valid_approvals(&approvals, now),
            approvals: approvals.iter().map(|a| approval_view(a, now)).collect(),
            steps: steps.iter().map(|s| step_view(s, &calls)).collect(),
            paused: row.paused,
            outcome: row.outcome.clone(),
            break_glass: row.break_glass.clone(),
            queue_position,
            blocked_by,
            actions: available(&row, &steps),
            live_verdict: judgement.as_ref().map(|(j, _)| j.verdict),
            live_fired: judgement
                .map(|(j, _)| j.fired.into_iter().map(|f| f.message).collect())
                .unwrap_or_default(),
            backups,
            new_colour_health,
            plan,
        })
    }

    async fn deny(&self, mut audit: AuditRecord, reason: &str) -> Result<(), AppError> {
        audit.outcome = Outcome::Denied;
        audit.reason = reason.to_string();
        self.engine.storage.append_audit(&audit).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ReleaseService for EngineReleases {
    async fn register(
        &self,
        release: NewRelease,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<(ReleaseView, bool), AppError> {
        if let Err(error) = validate_release(&release, &self.configured_services()) {
            // The target names the service only when it is one: the refused text is not stored as it came.
            let target = match app::validate::key("service", &release.service) {
                Ok(()) => format!("release/{}", release.service),
                Err(_) => "release".into(),
            };
            self.deny(audit.target(target), &error.to_string()).await?;
            return Err(error);
        }
        let extras = ReleaseExtras {
            environment: release.environment.clone(),
            cpu: release.cpu.clone(),
            memory: release.memory.clone(),
        };
        let row = ReleaseRow {
            seq: 0,
            id: format!(
                "rel-{}{}",
                crate::identity::tokens::short_reference(),
                crate::identity::tokens::short_reference()
            ),
            service: release.service.clone(),
            version: release.version.clone(),
            image: release.image.clone(),
            digest: release.digest.clone(),
            commit_sha: release.commit.to_ascii_lowercase(),
            notes: release.notes.clone(),
            ticket_url: release.ticket_url.clone(),
            change: serde_json::to_string(&extras).expect("serialises"),
            registered_by: by.name.clone(),
            registered_at: OffsetDateTime::now_utc(),
        };
        let audit = audit.target(format!("release/{}", row.id)).parameters(
            json!({
                "service": row.service,
                "version": row.version,
                "image": row.image,
                "digest": row.digest,
                "commit": row.commit_sha,
            })
            .to_string(),
        );
        let (stored, created) = self.engine.storage.insert_release(&row, &audit).await?;
        if !created {
            let same = stored.image == row.image
                && stored.digest == row.digest
                && stored.commit_sha == row.commit_sha
                && stored.change == row.change;
            if !same {
                return Err(AppError::Conflict {
                    message: format!(
                        "{} {} is already registered with a different build; releases are immutable: use a new version",
                        stored.service, stored.version
                    ),
                });
            }
        }
        Ok((release_view(&stored), created))
    }

    async fn releases(
        &self,
        service: Option<String>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<ReleasePage, AppError> {
        app::validate::optional_key("service", service.as_deref())?;
        let limit = limit.clamp(1, 200);
        let rows = self
            .engine
            .storage
            .releases(
                service.as_deref().filter(|s| !s.is_empty()),
                before,
                limit + 1,
            )
            .await?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        Ok(ReleasePage {
            next_before: more.then(|| rows.last().map(|r| r.seq)).flatten(),
            releases: rows.iter().map(release_view).collect(),
        })
    }

    async fn release(&self, id: &str) -> Result<ReleaseView, AppError> {
        Ok(release_view(&self.release_row("id", id).await?))
    }

    async fn plan(&self, release_id: &str, environment: &str) -> Result<PlanView, AppError> {
        let release = self.release_row("release", release_id).await?;
        let env = self.environment(environment)?;
        let (mut plan, _) = self
            .engine
            .make_plan(&release, env, "preview", OffsetDateTime::now_utc())
            .await?;
        // The names end with the deployment's id, which a preview does not have yet.
        for snapshot in &mut plan.snapshots {
            if let Some(stem) = snapshot.strip_suffix("-preview") {
                *snapshot = format!("{stem}-<deployment id>");
            }
        }
        Ok(plan)
    }

    async fn request(
        &self,
        release_id: &str,
        environment: &str,
        break_glass: Option<String>,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<DeploymentDetail, AppError> {
        let release = self.release_row("release", release_id).await?;
        let env = self.environment(environment)?;
        if let Some(reason) = &break_glass {
            app::validate::text("break_glass", reason.trim(), 2000, true)?;
        }
        let now = OffsetDateTime::now_utc();
        let id = format!(
            "dep-{}{}",
            crate::identity::tokens::short_reference(),
            crate::identity::tokens::short_reference()
        );
        let audit = audit
            .target(format!("deployment/{id}"))
            .environment(environment);
        let (plan, steps) = self.engine.make_plan(&release, env, &id, now).await?;
        let break_glass = break_glass
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty());
        if let Some(frozen) = &plan.frozen {
            let may_break = by.may(app::auth::Permission::BreakGlass);
            match (&break_glass, may_break) {
                (Some(_), true) => {}
                (Some(_), false) => {
                    let reason =
                        format!("{environment} is frozen: {frozen}; only an admin may break glass");
                    self.deny(audit, &reason).await?;
                    return Err(AppError::Forbidden {
                        action: "break glass during a freeze (admins only)".into(),
                    });
                }
                (None, _) => {
                    let reason = format!(
                        "{environment} is frozen: {frozen}; an admin may deploy anyway by breaking glass with a reason"
                    );
                    self.deny(audit, &reason).await?;
                    return Err(AppError::Conflict { message: reason });
                }
            }
        }
        // Breaking glass is for a freeze or unrecoverable backups; a reason sent when neither blocks the deploy
        // is not kept, so the deploy is not recorded or announced as breaking glass.
        let mut glass_needed = plan.frozen.is_some();
        if self.engine.block_unrecoverable && env.config.deploy.production {
            let verdict = env.backups.view(&env.region).await.verdict;
            if verdict.recoverable == app::dto::Recoverable::No {
                glass_needed = true;
                let reason = format!(
                    "{environment} is not recoverable from its backups right now ({}); fix the backups first, or an admin may break glass",
                    verdict.failing.join("; "),
                );
                if !(break_glass.is_some() && by.may(app::auth::Permission::BreakGlass)) {
                    self.deny(audit, &reason).await?;
                    return Err(AppError::Conflict { message: reason });
                }
            }
        }
        let break_glass = break_glass.filter(|_| glass_needed);
        let service = env
            .config
            .service(&release.service)
            .expect("make_plan checked it");
        let mut plan_json = serde_json::to_value(&plan).expect("serialises");
        if let Some(owner) = &by.owner {
            plan_json["requested_on_behalf_of"] = json!(owner);
        }
        let auto = plan.approvals_required == 0;
        let row = DeploymentRow {
            seq: 0,
            id: id.clone(),
            environment: environment.to_string(),
            service: service.name.clone(),
            release_id: release.id.clone(),
            state: (if auto {
                DeploymentState::Queued
            } else {
                DeploymentState::Requested
            })
            .as_str()
            .into(),
            ending: None,
            paused: false,
            from_colour: plan.from_colour.as_str().into(),
            to_colour: plan.to_colour.as_str().into(),
            requested_by: by.subject.clone(),
            requested_by_name: by.name.clone(),
            requested_at: now,
            approvals_required: plan.approvals_required as i32,
            plan: plan_json.to_string(),
            reason: auto
                .then(|| "approved automatically: the environment needs no approval".to_string()),
            outcome: None,
            break_glass: break_glass.clone(),
            next_run_at: millis(now),
            lease_owner: None,
            lease_until: None,
            lease_epoch: 0,
            version: 0,
            updated_at: now,
            finished_at: None,
            release_version: None,
        };
        let rows: Vec<StepRow> = steps
            .iter()
            .enumerate()
            .map(|(i, step)| step_row(&id, i as i32 + 1, step, Phase::Forward))
            .collect();
        let audit = audit.parameters(
            json!({
                "release": release.id,
                "version": release.version,
                "service": service.name,
                "from": plan.from_colour,
                "to": plan.to_colour,
                "diff": plan.diff,
                "break_glass": break_glass,
            })
            .to_string(),
        );
        let audit = match &break_glass {
            Some(reason) => {
                let mut audit = audit;
                audit.reason = format!("break-glass during a freeze: {reason}");
                audit
            }
            None => audit,
        };
        let stored = self
            .engine
            .storage
            .insert_deployment(&row, &rows, &audit)
            .await?;
        if let Some(reason) = &break_glass {
            tracing::warn!(deployment = %id, environment, "deploy requested during a freeze (break-glass)");
            self.engine.announce(
                &stored,
                "break_glass",
                format!(
                    "BREAK-GLASS: {} deploys {} {} to {} during a freeze: {reason}",
                    by.name, release.service, release.version, environment
                ),
            );
        }
        if !auto {
            self.engine.announce(
                &stored,
                "approval_requested",
                format!(
                    "{} requests {} {} to {}: {} approval(s) needed",
                    by.name, release.service, release.version, environment, plan.approvals_required
                ),
            );
        }
        self.engine.wake();
        self.view(stored).await
    }

    async fn deployment(&self, id: &str) -> Result<DeploymentDetail, AppError> {
        app::validate::key("id", id)?;
        let row = self
            .engine
            .storage
            .deployment(id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("deployment {id:?}")))?;
        self.view(row).await
    }

    async fn markers(
        &self,
        environment: &str,
        service: &str,
    ) -> Result<Vec<DeployMarker>, AppError> {
        let change = *self.engine.changes.borrow();
        if let Some(markers) = self.markers.get(environment, service, change) {
            return Ok(markers);
        }
        let since = OffsetDateTime::now_utc() - time::Duration::days(MARKER_DAYS);
        let switches = self
            .engine
            .storage
            .switches(environment, service, since, MARKER_DEPLOYMENTS)
            .await?;
        let markers: Vec<DeployMarker> = switches
            .iter()
            .filter_map(|s| {
                marker(
                    &s.deployment_id,
                    &s.release_version,
                    &s.phase,
                    &s.params,
                    s.finished_at,
                )
            })
            .collect();
        if self.is_configured(environment, service) {
            self.markers
                .put(environment, service, change, markers.clone());
        }
        Ok(markers)
    }

    async fn deployments(
        &self,
        filter: &DeploymentFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<DeploymentPage, AppError> {
        let limit = limit.clamp(1, 200);
        for (field, value) in [
            ("environment", &filter.environment),
            ("service", &filter.service),
            ("state", &filter.state),
            ("release", &filter.release),
        ] {
            app::validate::optional_key(field, value.as_deref())?;
        }
        if let Some(state) = filter.state.as_deref().filter(|s| !s.is_empty()) {
            if DeploymentState::parse(state).is_none() {
                return Err(invalid("state", format!("unknown state {state:?}")));
            }
        }
        let blank = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        let query = DeploymentQuery {
            environment: blank(&filter.environment),
            service: blank(&filter.service),
            state: blank(&filter.state),
            release_id: blank(&filter.release),
        };
        let rows = self
            .engine
            .storage
            .deployments(&query, before, limit + 1)
            .await?;
        let more = rows.len() > limit as usize;
        let rows = &rows[..rows.len().min(limit as usize)];
        let mut deployments = Vec::with_capacity(rows.len());
        for row in rows {
            let version = match &row.release_version {
                Some(version) => version.clone(),
                None => plan_of(row)?.release_version,
            };
            deployments.push(listed(row, version));
        }
        Ok(DeploymentPage {
            next_before: more.then(|| rows.last().map(|r| r.seq)).flatten(),
            deployments,
        })
    }

    async fn act(
        &self,
        id: &str,
        action: DeploymentAction,
        reason: String,
        confirm: String,
        by: &Principal,
        audit: AuditRecord,
    ) -> Result<DeploymentDetail, AppError> {
        app::validate::key("id", id)?;
        app::validate::text("reason", reason.trim(), 2000, true)?;
        app::validate::key("confirm", &confirm)?;
        let storage = &self.engine.storage;
        let audit = audit.target(format!("deployment/{id}"));
        for _ in 0..5 {
            let row = storage
                .deployment(id)
                .await?
                .ok_or_else(|| AppError::not_found(format!("deployment {id:?}")))?;
            let audit = audit.clone().environment(row.environment.clone());
            let env = self.environment(&row.environment)?;
            let Some(service) = env.config.service(&row.service) else {
                return Err(AppError::not_found(format!("service {:?}", row.service)));
            };
            let plan = plan_of(&row)?;
            if plan.typed_confirmation
                && action.needs_typed_confirmation()
                && confirm.trim() != row.service
            {
                let error = invalid(
                    "confirm",
                    format!("type the service name ({}) to confirm", row.service),
                );
                self.deny(audit, &error.to_string()).await?;
                return Err(error);
            }
            let steps = storage.steps(id).await?;
            let approvals = storage.approvals(id).await?;
            let now = OffsetDateTime::now_utc();
            let ctx = Context {
                row: &row,
                steps: &steps,
                approvals: &approvals,
                service,
                approval_expiry: time::Duration::hours(i64::from(
                    env.config.deploy.approval_expiry_hours,
                )),
                now,
            };
            let change = match actions::apply(&ctx, action, by, &reason) {
                Ok(change) => change,
                Err(refused) => {
                    self.deny(audit, &refused.reason).await?;
                    return Err(refused.error);
                }
            };
            let record = audit.clone().parameters(
                json!({
                    "from_state": row.state,
                    "to_state": change.row.state,
                    "reason": reason.trim(),
                    "summary": change.summary,
                })
                .to_string(),
            );
            let outcome = storage
                .commit(&Commit {
                    row: change.row.clone(),
                    steps: change.steps,
                    approval: change.approval,
                    aws_calls: Vec::new(),
                    audit: vec![record],
                })
                .await?;
            match outcome {
                CommitOutcome::Committed => {
                    match action {
                        DeploymentAction::Approve
                            if change.row.state == DeploymentState::Queued.as_str() =>
                        {
                            self.engine.announce(
                                &change.row,
                                "approved",
                                format!(
                                    "{} approved {} to {}",
                                    by.name, row.service, row.environment
                                ),
                            );
                        }
                        DeploymentAction::Reject => {
                            self.engine.announce(
                                &change.row,
                                "rejected",
                                format!(
                                    "{} rejected {} to {}: {}",
                                    by.name,
                                    row.service,
                                    row.environment,
                                    reason.trim()
                                ),
                            );
                        }
                        _ => {}
                    }
                    self.engine.wake();
                    return self.deployment(id).await;
                }
                CommitOutcome::Stale | CommitOutcome::LaneBusy => continue,
                CommitOutcome::SelfApproval => {
                    let reason = "the requester may not approve their own deployment";
                    self.deny(audit, reason).await?;
                    return Err(AppError::Forbidden {
                        action: "approve a deployment you requested; another approver must".into(),
                    });
                }
            }
        }
        Err(AppError::Conflict {
            message: "the deployment kept changing while you acted; try again".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release() -> NewRelease {
        NewRelease {
            service: "api".into(),
            version: "1.4.2".into(),
            image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/accunode-api:1.4.2".into(),
            digest: None,
            commit: "4f2a9c1d".into(),
            notes: String::new(),
            ticket_url: None,
            environment: BTreeMap::new(),
            cpu: None,
            memory: None,
        }
    }

    fn field(result: Result<(), AppError>) -> Option<String> {
        match result {
            Err(AppError::Validation { field, .. }) => Some(field),
            _ => None,
        }
    }

    #[test]
    fn limits_count_characters_as_the_openapi_document_does_and_links_are_ascii() {
        let services = ["api"];
        // 10,000 characters of three bytes each are within the notes' limit; one more is not.
        let mut r = release();
        r.notes = "é".repeat(10_000);
        assert_eq!(field(validate_release(&r, &services)), None);
        r.notes.push('é');
        assert_eq!(
            field(validate_release(&r, &services)).as_deref(),
            Some("notes")
        );
        let mut r = release();
        r.environment.insert("GREETING".into(), "ü".repeat(4096));
        assert_eq!(field(validate_release(&r, &services)), None);
        r.environment.insert("BAD-NAME".into(), "x".into());
        assert_eq!(
            field(validate_release(&r, &services)).as_deref(),
            Some("environment")
        );
        let mut r = release();
        r.ticket_url = Some("https://tickets.example/ACC-42".into());
        assert_eq!(field(validate_release(&r, &services)), None);
        r.ticket_url = Some("https://Ï".into());
        assert_eq!(
            field(validate_release(&r, &services)).as_deref(),
            Some("ticket_url")
        );
        r.ticket_url = Some("javascript:alert(1)".into());
        assert_eq!(
            field(validate_release(&r, &services)).as_deref(),
            Some("ticket_url")
        );
        let mut r = release();
        r.service = "billing".into();
        assert_eq!(
            field(validate_release(&r, &services)).as_deref(),
            Some("service")
        );
    }
}
