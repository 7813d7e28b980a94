//! A worker: claim a due deployment (a lease in the database), take it one step further, write what happened,
//! let go. Every write is guarded by the row's version, so a worker that lost its lease (it stalled, another
//! replica took over) changes nothing; the next owner reads AWS before acting, so no change is made twice.

use super::actions::{finish, millis, state_of, valid_approvals};
use super::plan::{cleanup_steps, rollback_steps, Phase, Step};
use super::record::Steps;
use super::steps::{change, observe, operation_of, Observation, StepContext};
use super::{Engine, EnvironmentRuntime};
use crate::aws::AwsError;
use crate::config::ServiceConfig;
use crate::storage::{AwsCallRow, Commit, CommitOutcome, DeploymentRow, StepRow};
use app::dto::{AuditRecord, DeploymentState, Outcome};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

/// The engine's own audit events.
pub fn engine_record(
    row: &DeploymentRow,
    action: &str,
    outcome: Outcome,
    reason: impl Into<String>,
    parameters: serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        actor: "signalbox-engine".into(),
        actor_kind: "system".into(),
        authority: String::new(),
        action: action.into(),
        target: format!("deployment/{}", row.id),
        environment: Some(row.environment.clone()),
        parameters: parameters.to_string(),
        outcome,
        reason: reason.into(),
        request_id: String::new(),
        client_addr: String::new(),
    }
}

fn backoff(attempts: i32) -> Duration {
    Duration::from_millis((500u64 << attempts.clamp(0, 6) as u32).min(30_000))
}

/// One worker's view of a claimed deployment while it works on it.
struct Work<'a> {
    engine: &'a Engine,
    owner: &'a str,
    row: DeploymentRow,
    now: OffsetDateTime,
    audit: Vec<AuditRecord>,
    calls: Vec<AwsCallRow>,
    /// Announced once the write that goes with them has committed.
    announcements: Vec<(&'static str, String)>,
}

impl Engine {
    pub(super) async fn run_worker(
        self: Arc<Self>,
        owner: String,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let now = OffsetDateTime::now_utc();
            let claimed = self
                .storage
                .claim(&owner, millis(now), self.settings.lease.as_millis() as i64)
                .await;
            match claimed {
                Ok(Some(id)) => {
                    if let Err(error) = self.tick(&id, &owner).await {
                        tracing::error!(deployment = %id, %error, "deployment step could not be recorded");
                        tokio::time::sleep(self.settings.poll).await;
                    }
                    continue;
                }
                Ok(None) => {}
                Err(error) => tracing::error!(%error, "could not look for due deployments"),
            }
            let woken = self.wake.notified();
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = woken => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Takes one claimed deployment one step further.
    #[tracing::instrument(skip_all, fields(deployment = %id))]
    pub async fn tick(&self, id: &str, owner: &str) -> Result<(), crate::storage::StorageError> {
        let Some(row) = self.storage.deployment(id).await? else {
            return Ok(());
        };
        if row.lease_owner.as_deref() != Some(owner) {
            return Ok(());
        }
        let steps = self.storage.steps(id).await?;
        let mut work = Work {
            engine: self,
            owner,
            now: OffsetDateTime::now_utc(),
            row,
            audit: Vec::new(),
            calls: Vec::new(),
            announcements: Vec::new(),
        };
        let Some(env) = self.environment(&work.row.environment) else {
            let reason = format!(
                "environment {} is no longer configured",
                work.row.environment
            );
            return work.halt(Vec::new(), reason).await;
        };
        let Some(service) = env.config.service(&work.row.service) else {
            let reason = format!("service {} is no longer configured", work.row.service);
            return work.halt(Vec::new(), reason).await;
        };
        match state_of(&work.row) {
            DeploymentState::Queued => work.start(env, &steps).await,
            _ => work.advance(env, service, steps).await,
        }
    }
}

impl Work<'_> {
    fn now_ms(&self) -> i64 {
        millis(self.now)
    }

    /// Writes the row (letting go of the lease unless `keep_lease`), the changed steps, the calls and events.
    async fn write(
        &mut self,
        steps: Vec<StepRow>,
        keep_lease: bool,
    ) -> Result<CommitOutcome, crate::storage::StorageError> {
        let mut row = self.row.clone();
        row.updated_at = self.now;
        if !keep_lease {
            row.lease_owner = None;
            row.lease_until = None;
        }
        let outcome = self
            .engine
            .storage
            .commit(&Commit {
                row: row.clone(),
                steps,
                approval: None,
                aws_calls: std::mem::take(&mut self.calls),
                audit: std::mem::take(&mut self.audit),
            })
            .await?;
        match outcome {
            CommitOutcome::Committed => {
                row.version += 1;
                self.row = row;
                self.engine.changes.send_modify(|n| *n += 1);
                for (event, text) in std::mem::take(&mut self.announcements) {
                    self.engine.announce(&self.row, event, text);
                }
            }
            CommitOutcome::Stale => self.let_go().await?,
            _ => {}
        }
        Ok(outcome)
    }

    /// Someone changed the deployment while we worked (a person's action): drop our lease so the next round
    /// starts from what is stored. What AWS did meanwhile is read again then.
    async fn let_go(&mut self) -> Result<(), crate::storage::StorageError> {
        for _ in 0..3 {
            let Some(mut fresh) = self.engine.storage.deployment(&self.row.id).await? else {
                return Ok(());
            };
            if fresh.lease_owner.as_deref() != Some(self.owner) {
                return Ok(());
            }
            fresh.lease_owner = None;
            fresh.lease_until = None;
            fresh.next_run_at = fresh.next_run_at.min(self.now_ms());
            let commit = Commit {
                row: fresh,
                steps: Vec::new(),
                approval: None,
                aws_calls: Vec::new(),
                audit: Vec::new(),
            };
            if self.engine.storage.commit(&commit).await? != CommitOutcome::Stale {
                return Ok(());
            }
        }
        Ok(())
    }

    fn set_state(&mut self, state: DeploymentState, parameters: serde_json::Value) {
        if self.row.state != state.as_str() {
            let record = engine_record(
                &self.row,
                &format!("deployment.{}", state.as_str()),
                Outcome::Allowed,
                "",
                parameters,
            );
            self.audit.push(record);
            self.row.state = state.as_str().into();
        }
    }

    async fn halt(
        &mut self,
        steps: Vec<StepRow>,
        reason: String,
    ) -> Result<(), crate::storage::StorageError> {
        tracing::warn!(deployment = %self.row.id, %reason, "deployment halted");
        self.row.reason = Some(reason.clone());
        let record = engine_record(
            &self.row,
            "deployment.halted",
            Outcome::Failed,
            reason,
            json!({}),
        );
        self.audit.push(record);
        self.row.state = DeploymentState::Halted.as_str().into();
        let text = format!(
            "{} to {} halted: {}",
            self.row.service,
            self.row.environment,
            self.row.reason.clone().unwrap_or_default()
        );
        self.announcements.push(("halted", text));
        self.write(steps, false).await.map(|_| ())
    }

    /// A queued deployment starts when it is first in its lane and the lane is free.
    async fn start(
        &mut self,
        env: &EnvironmentRuntime,
        steps: &[StepRow],
    ) -> Result<(), crate::storage::StorageError> {
        let poll_ms = self.engine.settings.poll.as_millis() as i64;
        let lane = self
            .engine
            .storage
            .lane(&self.row.environment, &self.row.service)
            .await?;
        let ahead = lane
            .iter()
            .any(|d| d.seq < self.row.seq && d.state != DeploymentState::Requested.as_str());
        if ahead {
            self.row.next_run_at = self.now_ms() + poll_ms;
            return self.write(Vec::new(), false).await.map(|_| ());
        }
        if self.row.approvals_required > 0 {
            let approvals = self.engine.storage.approvals(&self.row.id).await?;
            let valid = valid_approvals(&approvals, self.now);
            if valid < self.row.approvals_required as u32 {
                let reason = format!(
                    "approvals expired while queued: {valid} of {} still valid; approve again",
                    self.row.approvals_required
                );
                self.row.reason = Some(reason.clone());
                self.set_state(DeploymentState::Requested, json!({ "reason": reason }));
                return self.write(Vec::new(), false).await.map(|_| ());
            }
        }
        let replanned = match self.replan(env, steps).await {
            Ok(replanned) => replanned,
            Err(error) => {
                // AWS could not be read: stay queued and try again shortly.
                tracing::warn!(deployment = %self.row.id, %error, "could not re-plan a queued deployment");
                self.row.reason = Some(format!("waiting to start: {error}"));
                self.row.next_run_at = self.now_ms() + 5 * poll_ms.max(200);
                return self.write(Vec::new(), false).await.map(|_| ());
            }
        };
        if replanned.is_none()
            && self
                .row
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with("waiting to start"))
        {
            self.row.reason = None;
        }
        let steps: Vec<StepRow> = replanned.clone().unwrap_or_else(|| steps.to_vec());
        let first = steps
            .iter()
            .find(|s| s.state == "pending" || s.state == "running")
            .map(|s| Step::from_row(s).state(Phase::parse(&s.phase)))
            .unwrap_or(DeploymentState::Done);
        self.row.next_run_at = self.now_ms();
        self.set_state(first, json!({ "started": true }));
        if self.write(replanned.unwrap_or_default(), false).await? == CommitOutcome::LaneBusy {
            // Another replica started a deployment of this service in the same instant.
            let mut parked = self.row.clone();
            parked.next_run_at = self.now_ms() + poll_ms;
            parked.lease_owner = None;
            parked.lease_until = None;
            let commit = Commit {
                row: parked,
                steps: Vec::new(),
                approval: None,
                aws_calls: Vec::new(),
                audit: Vec::new(),
            };
            self.engine.storage.commit(&commit).await?;
        }
        Ok(())
    }

    /// Lays the deployment out again from what AWS runs now, when that is not what it was planned against (a
    /// deployment ahead of it in the queue switched colours). Returns the new steps to write, if any.
    async fn replan(
        &mut self,
        env: &EnvironmentRuntime,
        steps: &[StepRow],
    ) -> Result<Option<Vec<StepRow>>, app::error::AppError> {
        let Some(release) = self.engine.storage.release(&self.row.release_id).await? else {
            return Ok(None);
        };
        let old: app::dto::PlanView =
            serde_json::from_str(&self.row.plan).map_err(|_| app::error::AppError::Internal {
                reference: "plan-unreadable".into(),
            })?;
        let (plan, forward) = self
            .engine
            .make_plan(&release, env, &self.row.id, self.now)
            .await?;
        if plan.from_colour == old.from_colour
            && plan.live_task_definition_arn == old.live_task_definition_arn
        {
            return Ok(None);
        }
        let mut value = serde_json::to_value(&plan).expect("serialises");
        if let Ok(previous) = serde_json::from_str::<serde_json::Value>(&self.row.plan) {
            if let Some(owner) = previous.get("requested_on_behalf_of") {
                value["requested_on_behalf_of"] = owner.clone();
            }
        }
        self.row.plan = value.to_string();
        self.row.from_colour = plan.from_colour.as_str().into();
        self.row.to_colour = plan.to_colour.as_str().into();
        let mut rows: Vec<StepRow> = forward
            .iter()
            .enumerate()
            .map(|(i, step)| {
                super::record::step_row(&self.row.id, i as i32 + 1, step, Phase::Forward)
            })
            .collect();
        let planned = rows.len();
        for stale in steps.iter().filter(|s| s.seq as usize > planned) {
            let mut skipped = stale.clone();
            skipped.state = "skipped".into();
            skipped.detail = "dropped when the deployment was re-planned".into();
            rows.push(skipped);
        }
        let reason = format!(
            "re-planned at start: {} is live now ({}), so {} goes live",
            plan.from_colour, plan.live_task_definition, plan.to_colour
        );
        self.audit.push(engine_record(
            &self.row,
            "deployment.replanned",
            Outcome::Allowed,
            reason.clone(),
            json!({ "from": plan.from_colour, "to": plan.to_colour, "diff": plan.diff }),
        ));
        self.row.reason = Some(reason);
        Ok(Some(rows))
    }

    async fn advance(
        &mut self,
        env: &EnvironmentRuntime,
        service: &ServiceConfig,
        rows: Vec<StepRow>,
    ) -> Result<(), crate::storage::StorageError> {
        let mut steps = Steps::new(&self.row, &rows);
        let Some(index) = steps.current_index() else {
            return self.finish_all(&steps).await;
        };
        let step = Step::from_row(&steps.rows()[index]);
        let phase = Phase::parse(&steps.rows()[index].phase);
        self.set_state(step.state(phase), json!({ "step": step.title() }));
        let now_ms = self.now_ms();
        {
            let current = steps.get_mut(index);
            if current.state == "pending" {
                current.state = "running".into();
                current.started_at = Some(self.now);
            }
            if let Step::ScaleDown { delay_secs, .. } = &step {
                if *delay_secs > 0 && current.not_before.is_none() {
                    current.not_before = Some(now_ms + (*delay_secs as i64) * 1000);
                }
            }
            if let Some(not_before) = current.not_before.filter(|at| *at > now_ms) {
                current.detail = format!(
                    "waiting until {}",
                    crate::audit::chain::canonical_time(
                        OffsetDateTime::from_unix_timestamp_nanos(
                            i128::from(not_before) * 1_000_000
                        )
                        .unwrap_or(self.now)
                    )
                );
                self.row.next_run_at = not_before;
                return self.write(steps.changed(), false).await.map(|_| ());
            }
        }
        let started_at = steps.rows()[index].started_at.unwrap_or(self.now);
        let poll = self.engine.settings.poll.max(Duration::from_millis(200));
        let observation = {
            let ctx = StepContext {
                environment: &env.config,
                service,
                aws: &env.aws,
                health: Some(&env.health),
                deployment: &self.row,
                steps: &steps,
                index,
                phase,
                started_at,
                now: self.now,
                poll,
            };
            observe(&ctx, &step).await
        };
        let observation = match observation {
            Ok(observation) => observation,
            Err(error) => return self.failed_call(steps, index, &step, error, false).await,
        };
        match observation {
            Observation::Done { detail, result } => {
                if matches!(step, Step::Switch { .. }) && steps.rows()[index].attempts > 0 {
                    // Our call reached AWS but its answer was never written (the process died, the database
                    // was unreachable, the answer was lost): the change is ours, so it gets its audit event.
                    self.audit.push(engine_record(
                        &self.row,
                        "deployment.switch",
                        Outcome::Allowed,
                        "found applied after a call whose answer was not recorded",
                        json!({ "listener": detail, "applied_by": "observed", "phase": phase.as_str() }),
                    ));
                }
                self.step_done(&mut steps, index, &step, detail, result, false);
                self.after_step(steps).await
            }
            Observation::Wait { detail, after } => {
                let current = steps.get_mut(index);
                current.detail = detail;
                current.error = None;
                self.row.next_run_at = self.now_ms() + after.as_millis() as i64;
                self.write(steps.changed(), false).await.map(|_| ())
            }
            Observation::Halt { reason } => {
                steps.get_mut(index).error = Some(reason.clone());
                let changed = steps.changed();
                self.halt(changed, reason).await
            }
            Observation::Fail { reason, outcome } => {
                steps.fail(index, &reason, self.now);
                steps.skip_remaining(self.now);
                steps.append(
                    &cleanup_steps(service, super::actions::colour(&self.row.from_colour)),
                    Phase::Cleanup,
                );
                self.row.ending = Some(DeploymentState::Failed.as_str().into());
                self.row.reason = Some(reason.clone());
                self.row.outcome = outcome.as_ref().map(|o| o.to_string());
                self.row.next_run_at = self.now_ms();
                self.audit.push(engine_record(
                    &self.row,
                    "deployment.fail",
                    Outcome::Failed,
                    reason,
                    outcome.unwrap_or_else(|| json!({})),
                ));
                self.set_state(DeploymentState::RollingBack, json!({ "cleanup": true }));
                self.write(steps.changed(), false).await.map(|_| ())
            }
            Observation::RollBack { reason, outcome } => {
                steps.fail(index, &reason, self.now);
                steps.skip_remaining(self.now);
                steps.append(
                    &rollback_steps(service, super::actions::colour(&self.row.from_colour)),
                    Phase::Rollback,
                );
                self.row.reason = Some(format!("automatic rollback: {reason}"));
                self.row.outcome = Some(outcome.to_string());
                self.row.next_run_at = self.now_ms();
                self.audit.push(engine_record(
                    &self.row,
                    "deployment.auto_rollback",
                    Outcome::Allowed,
                    reason,
                    outcome,
                ));
                self.set_state(DeploymentState::RollingBack, json!({ "automatic": true }));
                self.write(steps.changed(), false).await.map(|_| ())
            }
            Observation::Change { intent } => {
                // The intent is on record before AWS is touched: a crash from here on leaves a step that says
                // where it was going, and the next owner reads AWS before doing anything.
                {
                    let current = steps.get_mut(index);
                    current.attempts += 1;
                    current.detail = intent;
                }
                let lease_ms = self.engine.settings.lease.as_millis() as i64;
                self.row.lease_until = Some(self.now_ms() + lease_ms);
                if self.write(steps.changed(), true).await? != CommitOutcome::Committed {
                    return Ok(());
                }
                let mut steps = Steps::new(&self.row, steps.rows());
                let answer = {
                    let ctx = StepContext {
                        environment: &env.config,
                        service,
                        aws: &env.aws,
                        health: Some(&env.health),
                        deployment: &self.row,
                        steps: &steps,
                        index,
                        phase,
                        started_at,
                        now: self.now,
                        poll,
                    };
                    change(&ctx, &step).await
                };
                self.now = OffsetDateTime::now_utc();
                match answer {
                    Ok(changed) => {
                        self.calls.push(AwsCallRow {
                            deployment_id: self.row.id.clone(),
                            step_seq: steps.rows()[index].seq,
                            operation: changed.operation.into(),
                            request_id: changed.request_id.clone(),
                            outcome: "ok".into(),
                            error_code: None,
                            at: self.now,
                        });
                        steps.get_mut(index).applied_by = Some("call".into());
                        if let Step::Switch { .. } = step {
                            self.audit.push(engine_record(
                                &self.row,
                                "deployment.switch",
                                Outcome::Allowed,
                                "",
                                json!({
                                    "listener": changed.result,
                                    "operation": changed.operation,
                                    "aws_request_id": changed.request_id,
                                    "phase": phase.as_str(),
                                }),
                            ));
                        }
                        if let Step::Switch { to, percent: 100 } = step {
                            let text = match phase {
                                Phase::Forward => format!(
                                    "{} in {}: all traffic switched to {to}",
                                    self.row.service, self.row.environment
                                ),
                                _ => format!(
                                    "{} in {}: traffic back on {to}",
                                    self.row.service, self.row.environment
                                ),
                            };
                            self.announcements.push(("switched", text));
                        }
                        if changed.finished {
                            self.step_done(
                                &mut steps,
                                index,
                                &step,
                                changed.detail,
                                changed.result,
                                true,
                            );
                            self.after_step(steps).await
                        } else {
                            let current = steps.get_mut(index);
                            current.detail = changed.detail;
                            current.error = None;
                            self.row.next_run_at = self.now_ms() + poll.as_millis() as i64;
                            self.write(steps.changed(), false).await.map(|_| ())
                        }
                    }
                    Err(error) => {
                        self.calls.push(AwsCallRow {
                            deployment_id: self.row.id.clone(),
                            step_seq: steps.rows()[index].seq,
                            operation: operation_of(&step, service).into(),
                            request_id: error.request_id.clone(),
                            outcome: if error.is_ambiguous() {
                                "unknown"
                            } else {
                                "error"
                            }
                            .into(),
                            error_code: error.code.clone(),
                            at: self.now,
                        });
                        self.failed_call(steps, index, &step, error, true).await
                    }
                }
            }
        }
    }

    fn step_done(
        &mut self,
        steps: &mut Steps,
        index: usize,
        step: &Step,
        detail: String,
        result: Option<serde_json::Value>,
        called: bool,
    ) {
        let mutating = !matches!(
            step,
            Step::WaitReady { .. } | Step::Pause { .. } | Step::Bake { .. }
        );
        let now = self.now;
        let current = steps.get_mut(index);
        current.state = "done".into();
        current.finished_at = Some(now);
        current.detail = detail;
        current.error = None;
        if result.is_some() {
            current.result = result.map(|r| r.to_string());
        }
        if mutating && current.applied_by.is_none() {
            current.applied_by = Some(if called { "call" } else { "observed" }.into());
        }
    }

    /// After a step finished: on to the next (now), or the end.
    async fn after_step(&mut self, steps: Steps) -> Result<(), crate::storage::StorageError> {
        match steps.current_index() {
            Some(next) => {
                let row = &steps.rows()[next];
                let state = Step::from_row(row).state(Phase::parse(&row.phase));
                self.set_state(state, json!({ "step": Step::from_row(row).title() }));
                self.row.next_run_at = self.now_ms();
                self.write(steps.changed(), false).await.map(|_| ())
            }
            None => self.finish_all(&steps).await,
        }
    }

    async fn finish_all(&mut self, steps: &Steps) -> Result<(), crate::storage::StorageError> {
        let last_phase = steps
            .rows()
            .iter()
            .rev()
            .find(|s| s.state == "done")
            .map(|s| Phase::parse(&s.phase))
            .unwrap_or(Phase::Forward);
        let end = match last_phase {
            Phase::Forward => DeploymentState::Done,
            Phase::Rollback => DeploymentState::RolledBack,
            Phase::Cleanup => self
                .row
                .ending
                .as_deref()
                .and_then(DeploymentState::parse)
                .unwrap_or(DeploymentState::Failed),
        };
        let reason = self.row.reason.clone().unwrap_or_default();
        let event = match end {
            DeploymentState::RolledBack => Some("rolled_back"),
            DeploymentState::Failed => Some("failed"),
            _ => None,
        };
        if let Some(event) = event {
            let text = format!(
                "{} to {}: {}. {reason}",
                self.row.service,
                self.row.environment,
                end.label()
            );
            self.announcements.push((event, text));
        }
        self.set_state(end, json!({ "reason": reason }));
        finish(&mut self.row, end, self.now);
        self.write(steps.changed(), false).await.map(|_| ())
    }

    /// An AWS error: tried again with back-off while it may pass, else the deployment halts for a person.
    async fn failed_call(
        &mut self,
        mut steps: Steps,
        index: usize,
        step: &Step,
        error: AwsError,
        counted: bool,
    ) -> Result<(), crate::storage::StorageError> {
        tracing::warn!(deployment = %self.row.id, %error, "deployment step failed");
        let max = self.engine.settings.step_max_attempts as i32;
        let message = error.public_message();
        let current = steps.get_mut(index);
        if !counted {
            current.attempts += 1;
        }
        let attempts = current.attempts;
        current.error = Some(message.clone());
        let retry = (error.is_transient() || error.is_ambiguous()) && attempts < max;
        if retry {
            let wait = backoff(attempts);
            current.detail = format!(
                "attempt {attempts} of {max} failed; trying again in {} ms",
                wait.as_millis()
            );
            self.row.next_run_at = self.now_ms() + wait.as_millis() as i64;
            return self.write(steps.changed(), false).await.map(|_| ());
        }
        let reason = format!(
            "{} failed after {attempts} attempt(s): {message}",
            step.title()
        );
        let changed = steps.changed();
        self.halt(changed, reason).await
    }
}
