//! What people may do to a deployment, pure: given its row, steps and approvals, an action becomes new rows or
//! a refusal that says why. The engine service writes the result with its audit event in one transaction.

use super::plan::{cleanup_steps, rollback_steps, Phase, Step};
use super::record::Steps;
use crate::config::{Colour, ServiceConfig};
use crate::storage::{ApprovalRow, DeploymentRow, StepRow};
use app::auth::Principal;
use app::dto::{DeploymentAction, DeploymentState};
use app::error::AppError;
use time::OffsetDateTime;

/// Why an action was refused: audited as denied, answered as `error`.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub reason: String,
    pub error: AppError,
}

fn refused(error: AppError) -> Refused {
    Refused {
        reason: error.to_string(),
        error,
    }
}

fn conflict(message: impl Into<String>) -> Refused {
    refused(AppError::Conflict {
        message: message.into(),
    })
}

/// The new state of a deployment after an action.
#[derive(Debug, Clone)]
pub struct Change {
    pub row: DeploymentRow,
    pub steps: Vec<StepRow>,
    pub approval: Option<ApprovalRow>,
    /// What the audit event says happened, beyond the action's name.
    pub summary: String,
}

pub struct Context<'a> {
    pub row: &'a DeploymentRow,
    pub steps: &'a [StepRow],
    pub approvals: &'a [ApprovalRow],
    pub service: &'a ServiceConfig,
    pub approval_expiry: time::Duration,
    pub now: OffsetDateTime,
}

pub fn state_of(row: &DeploymentRow) -> DeploymentState {
    DeploymentState::parse(&row.state).unwrap_or(DeploymentState::Failed)
}

/// Unexpired approvals.
pub fn valid_approvals(approvals: &[ApprovalRow], now: OffsetDateTime) -> u32 {
    approvals
        .iter()
        .filter(|a| a.decision == "approve" && a.expires_at > now)
        .count() as u32
}

/// Whether traffic has started to move (a forward switch began): from then on, stopping means rolling back.
pub fn traffic_moved(steps: &[StepRow]) -> bool {
    steps.iter().any(|s| {
        s.kind == "switch"
            && Phase::parse(&s.phase) == Phase::Forward
            && s.state != "pending"
            && s.state != "skipped"
    })
}

fn has_phase(steps: &[StepRow], phase: Phase) -> bool {
    steps.iter().any(|s| Phase::parse(&s.phase) == phase)
}

/// The old colour is still there to roll back to until the forward scale-down has run.
fn old_colour_kept(steps: &[StepRow]) -> bool {
    !steps.iter().any(|s| {
        s.kind == "scale_down" && Phase::parse(&s.phase) == Phase::Forward && s.state == "done"
    })
}

/// The actions that make sense now, before roles are considered.
pub fn available(row: &DeploymentRow, steps: &[StepRow]) -> Vec<DeploymentAction> {
    use DeploymentAction as A;
    use DeploymentState as S;
    let state = state_of(row);
    let moved = traffic_moved(steps);
    let unwinding = has_phase(steps, Phase::Rollback) || has_phase(steps, Phase::Cleanup);
    let mut actions = Vec::new();
    match state {
        S::Requested => actions.extend([A::Approve, A::Reject, A::Cancel]),
        S::Queued => actions.extend([A::Reject, A::Cancel]),
        S::Snapshot | S::Deploying | S::Ready => actions.extend([A::Cancel, A::Abort]),
        S::Switching | S::Baking | S::Retiring if !unwinding => {
            if state == S::Switching
                && steps
                    .iter()
                    .any(|s| s.state == "pending" && s.kind == "pause")
            {
                actions.push(A::SwitchNow);
            }
            actions.extend([A::Abort, A::RollbackNow]);
        }
        S::Halted => {
            actions.push(A::Retry);
            if !unwinding {
                actions.push(A::Abort);
                if moved && old_colour_kept(steps) {
                    actions.push(A::RollbackNow);
                }
            }
        }
        _ => {}
    }
    if matches!(
        state,
        S::Snapshot | S::Deploying | S::Ready | S::Switching | S::Baking | S::Retiring
    ) && !unwinding
    {
        actions.push(if row.paused { A::Resume } else { A::Pause });
    }
    if !old_colour_kept(steps) {
        actions.retain(|a| *a != A::RollbackNow);
    }
    actions
}

/// Applies `action` by `by`. `reason` is required to reject and to abort.
pub fn apply(
    ctx: &Context,
    action: DeploymentAction,
    by: &Principal,
    reason: &str,
) -> Result<Change, Refused> {
    use DeploymentAction as A;
    let state = state_of(ctx.row);
    if !available(ctx.row, ctx.steps).contains(&action) {
        return Err(conflict(format!(
            "cannot {} a deployment that is {}",
            action.label().to_lowercase(),
            state.label().to_lowercase()
        )));
    }
    let mut row = ctx.row.clone();
    row.updated_at = ctx.now;
    let now_ms = millis(ctx.now);
    let mut steps = Steps::new(ctx.row, ctx.steps);
    let mut approval = None;
    let summary;
    match action {
        A::Approve => {
            if by.identities().iter().any(|id| is_requester(ctx.row, id)) {
                return Err(Refused {
                    reason: "the requester may not approve their own deployment".into(),
                    error: AppError::Forbidden {
                        action: "approve a deployment you requested; another approver must".into(),
                    },
                });
            }
            if ctx.approvals.iter().any(|a| a.actor == by.subject) {
                return Err(conflict("you have already decided on this deployment"));
            }
            approval = Some(ApprovalRow {
                deployment_id: row.id.clone(),
                actor: by.subject.clone(),
                actor_name: by.name.clone(),
                decision: "approve".into(),
                reason: reason.trim().to_string(),
                decided_at: ctx.now,
                expires_at: ctx.now + ctx.approval_expiry,
            });
            let valid = valid_approvals(ctx.approvals, ctx.now) + 1;
            let required = ctx.row.approvals_required.max(0) as u32;
            if valid >= required {
                row.state = DeploymentState::Queued.as_str().into();
                row.next_run_at = now_ms;
                summary = format!("approved ({valid} of {required}); queued to start");
            } else {
                summary = format!("approved ({valid} of {required} needed)");
            }
        }
        A::Reject => {
            if reason.trim().is_empty() {
                return Err(refused(AppError::Validation {
                    field: "reason".into(),
                    message: "a rejection needs a reason".into(),
                }));
            }
            if by.identities().iter().any(|id| is_requester(ctx.row, id)) {
                return Err(conflict(
                    "you requested this deployment: cancel it rather than reject it",
                ));
            }
            approval = Some(ApprovalRow {
                deployment_id: row.id.clone(),
                actor: by.subject.clone(),
                actor_name: by.name.clone(),
                decision: "reject".into(),
                reason: reason.trim().to_string(),
                decided_at: ctx.now,
                expires_at: ctx.now,
            });
            finish(&mut row, DeploymentState::Rejected, ctx.now);
            row.reason = Some(format!("rejected by {}: {}", by.name, reason.trim()));
            summary = "rejected".into();
        }
        A::Cancel | A::Abort if !traffic_moved(ctx.steps) => {
            if action == A::Cancel
                && !by.identities().iter().any(|id| is_requester(ctx.row, id))
                && !by.may(app::auth::Permission::ApproveDeploy)
            {
                return Err(refused(AppError::Forbidden {
                    action: "cancel someone else's deployment (approvers may)".into(),
                }));
            }
            let why = match reason.trim() {
                "" => format!("{} by {}", past(action), by.name),
                r => format!("{} by {}: {r}", past(action), by.name),
            };
            if matches!(state, DeploymentState::Requested | DeploymentState::Queued) {
                finish(&mut row, DeploymentState::Cancelled, ctx.now);
            } else {
                steps.skip_remaining(ctx.now);
                steps.append(
                    &cleanup_steps(ctx.service, colour(&row.from_colour)),
                    Phase::Cleanup,
                );
                row.ending = Some(DeploymentState::Cancelled.as_str().into());
                row.state = DeploymentState::RollingBack.as_str().into();
                row.paused = false;
                row.next_run_at = now_ms;
            }
            row.reason = Some(why);
            summary = format!("{}; no traffic had moved", past(action));
        }
        A::Abort | A::RollbackNow => {
            steps.skip_remaining(ctx.now);
            steps.append(
                &rollback_steps(ctx.service, colour(&row.from_colour)),
                Phase::Rollback,
            );
            row.state = DeploymentState::RollingBack.as_str().into();
            row.paused = false;
            row.next_run_at = now_ms;
            row.reason = Some(match reason.trim() {
                "" => format!("rolled back by {}", by.name),
                r => format!("rolled back by {}: {r}", by.name),
            });
            summary = format!("rolling back to {}", row.from_colour);
        }
        A::Cancel => unreachable!("cancel after traffic moved is not available"),
        A::SwitchNow => {
            let skipped = steps.skip_pending_pauses(ctx.now);
            row.next_run_at = now_ms;
            summary = format!("skipped {skipped} pause(s)");
        }
        A::Pause => {
            row.paused = true;
            summary = "paused".into();
        }
        A::Resume => {
            row.paused = false;
            row.next_run_at = now_ms;
            summary = "resumed".into();
        }
        A::Retry => {
            let Some(step) = steps.current_mut() else {
                return Err(conflict("no step to retry"));
            };
            step.attempts = 0;
            step.error = None;
            let current = Step::from_row(step);
            row.state = current.state(Phase::parse(&step.phase)).as_str().into();
            row.reason = None;
            row.next_run_at = now_ms;
            summary = format!("retrying: {}", current.title());
        }
    }
    Ok(Change {
        row,
        steps: steps.changed(),
        approval,
        summary,
    })
}

fn past(action: DeploymentAction) -> &'static str {
    match action {
        DeploymentAction::Abort => "aborted",
        _ => "cancelled",
    }
}

fn is_requester(row: &DeploymentRow, identity: &str) -> bool {
    row.requested_by == identity || requester_owner(row).as_deref() == Some(identity)
}

/// A token's requests are its creator's too: the plan records who stands behind the token.
fn requester_owner(row: &DeploymentRow) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(&row.plan)
        .ok()?
        .get("requested_on_behalf_of")?
        .as_str()
        .map(str::to_string)
}

pub fn colour(text: &str) -> Colour {
    Colour::parse(text).unwrap_or(Colour::Blue)
}

pub fn finish(row: &mut DeploymentRow, state: DeploymentState, now: OffsetDateTime) {
    row.state = state.as_str().into();
    row.finished_at = Some(now);
    row.lease_owner = None;
    row.lease_until = None;
}

pub fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::record::step_row;
    use app::auth::{PrincipalKind, Role};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn service() -> ServiceConfig {
        toml::from_str(
            r#"name = "api"
               listener_port = 80
               blue = { ecs_service = "api-blue", target_group = "tg-blue" }
               green = { ecs_service = "api-green", target_group = "tg-green" }"#,
        )
        .unwrap()
    }

    fn row(state: DeploymentState, required: i32) -> DeploymentRow {
        DeploymentRow {
            seq: 1,
            id: "dep-1".into(),
            environment: "production".into(),
            service: "api".into(),
            release_id: "rel-1".into(),
            state: state.as_str().into(),
            ending: None,
            paused: false,
            from_colour: "blue".into(),
            to_colour: "green".into(),
            requested_by: "eddie".into(),
            requested_by_name: "Eddie".into(),
            requested_at: NOW,
            approvals_required: required,
            plan: r#"{"requested_on_behalf_of": "eddie-owner"}"#.into(),
            reason: None,
            outcome: None,
            break_glass: None,
            next_run_at: 0,
            lease_owner: None,
            lease_until: None,
            lease_epoch: 0,
            version: 3,
            updated_at: NOW,
            finished_at: None,
            release_version: None,
        }
    }

    fn user(subject: &str, role: Role) -> Principal {
        Principal {
            subject: subject.into(),
            name: subject.into(),
            kind: PrincipalKind::User,
            roles: vec![role],
            scopes: Vec::new(),
            owner: None,
        }
    }

    fn steps(states: &[(&Step, &str)]) -> Vec<StepRow> {
        states
            .iter()
            .enumerate()
            .map(|(i, (step, state))| {
                let mut row = step_row("dep-1", i as i32 + 1, step, Phase::Forward);
                row.state = state.to_string();
                row
            })
            .collect()
    }

    fn ctx<'a>(
        row: &'a DeploymentRow,
        steps: &'a [StepRow],
        approvals: &'a [ApprovalRow],
        service: &'a ServiceConfig,
    ) -> Context<'a> {
        Context {
            row,
            steps,
            approvals,
            service,
            approval_expiry: time::Duration::hours(24),
            now: NOW,
        }
    }

    #[test]
    fn the_requester_never_approves_not_even_through_a_token_they_created() {
        let service = service();
        let row = row(DeploymentState::Requested, 1);
        let refused = apply(
            &ctx(&row, &[], &[], &service),
            DeploymentAction::Approve,
            &user("eddie", Role::Admin),
            "",
        )
        .unwrap_err();
        assert!(
            matches!(refused.error, AppError::Forbidden { .. }),
            "{refused:?}"
        );
        let mut token = user("token:7", Role::Approver);
        token.kind = PrincipalKind::Token;
        token.owner = Some("eddie-owner".into());
        assert!(apply(
            &ctx(&row, &[], &[], &service),
            DeploymentAction::Approve,
            &token,
            ""
        )
        .is_err());
        let approved = apply(
            &ctx(&row, &[], &[], &service),
            DeploymentAction::Approve,
            &user("rita", Role::Approver),
            "",
        )
        .unwrap();
        assert_eq!(approved.row.state, "queued");
        assert_eq!(
            approved.approval.unwrap().expires_at,
            NOW + time::Duration::hours(24)
        );
    }

    #[test]
    fn an_expired_approval_does_not_count() {
        let service = service();
        let row = row(DeploymentState::Requested, 2);
        let old = ApprovalRow {
            deployment_id: "dep-1".into(),
            actor: "ada".into(),
            actor_name: "Ada".into(),
            decision: "approve".into(),
            reason: String::new(),
            decided_at: NOW - time::Duration::hours(25),
            expires_at: NOW - time::Duration::hours(1),
        };
        let change = apply(
            &ctx(&row, &[], std::slice::from_ref(&old), &service),
            DeploymentAction::Approve,
            &user("rita", Role::Approver),
            "",
        )
        .unwrap();
        assert_eq!(change.row.state, "requested", "{}", change.summary);
        assert_eq!(change.summary, "approved (1 of 2 needed)");
        let mut fresh = old;
        fresh.expires_at = NOW + time::Duration::hours(1);
        let change = apply(
            &ctx(&row, &[], &[fresh], &service),
            DeploymentAction::Approve,
            &user("rita", Role::Approver),
            "",
        )
        .unwrap();
        assert_eq!(change.row.state, "queued");
    }

    #[test]
    fn a_rejection_needs_a_reason() {
        let service = service();
        let row = row(DeploymentState::Requested, 1);
        let refused = apply(
            &ctx(&row, &[], &[], &service),
            DeploymentAction::Reject,
            &user("rita", Role::Approver),
            " ",
        )
        .unwrap_err();
        assert!(
            matches!(refused.error, AppError::Validation { ref field, .. } if field == "reason")
        );
        let rejected = apply(
            &ctx(&row, &[], &[], &service),
            DeploymentAction::Reject,
            &user("rita", Role::Approver),
            "CAB said no",
        )
        .unwrap();
        assert_eq!(rejected.row.state, "rejected");
        assert!(rejected.row.finished_at.is_some());
    }

    #[test]
    fn stopping_before_traffic_moved_cleans_up_and_after_rolls_back() {
        let service = service();
        let switch = Step::Switch {
            to: Colour::Green,
            percent: 100,
        };
        let bake = Step::Bake { secs: 600 };
        let ready = Step::WaitReady {
            colour: Colour::Green,
            ecs_service: "api-green".into(),
            target_group: "tg-green".into(),
            desired: 4,
            timeout_secs: 900,
        };
        let rolling = steps(&[
            (&ready, "running"),
            (&switch, "pending"),
            (&bake, "pending"),
        ]);
        let row_ready = row(DeploymentState::Ready, 1);
        assert!(!available(&row_ready, &rolling).contains(&DeploymentAction::RollbackNow));
        let aborted = apply(
            &ctx(&row_ready, &rolling, &[], &service),
            DeploymentAction::Abort,
            &user("rita", Role::Approver),
            "",
        )
        .unwrap();
        let kinds: Vec<(&str, &str, &str)> = aborted
            .steps
            .iter()
            .map(|s| (s.kind.as_str(), s.phase.as_str(), s.state.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("wait_ready", "forward", "skipped"),
                ("switch", "forward", "skipped"),
                ("bake", "forward", "skipped"),
                ("scale_down", "cleanup", "pending")
            ]
        );
        assert_eq!(aborted.row.ending.as_deref(), Some("cancelled"));

        let baking = steps(&[(&ready, "done"), (&switch, "done"), (&bake, "running")]);
        let row_baking = row(DeploymentState::Baking, 1);
        assert!(available(&row_baking, &baking).contains(&DeploymentAction::RollbackNow));
        let rolled = apply(
            &ctx(&row_baking, &baking, &[], &service),
            DeploymentAction::RollbackNow,
            &user("rita", Role::Approver),
            "",
        )
        .unwrap();
        let appended: Vec<String> = rolled
            .steps
            .iter()
            .filter(|s| s.phase == "rollback")
            .map(|s| s.params.clone())
            .collect();
        assert_eq!(appended.len(), 2);
        assert!(
            appended[0].contains(r#""to":"blue""#) && appended[0].contains(r#""percent":100"#),
            "{appended:?}"
        );
        assert_eq!(rolled.row.state, "rolling_back");
        // A deployer may cancel their own request, not roll back; the table says so (the server checks it).
        assert!(!user("eddie", Role::Deployer).may(DeploymentAction::RollbackNow.permission()));
    }
}
