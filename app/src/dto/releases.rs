//! Releases and deployments as pages and the API see them.

use super::Colour;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A build CI registered: immutable once stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseView {
    pub id: String,
    pub service: String,
    pub version: String,
    pub image: String,
    pub digest: Option<String>,
    pub commit: String,
    pub notes: String,
    pub ticket_url: Option<String>,
    /// Environment variables the release sets on the application container.
    pub environment: BTreeMap<String, String>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub registered_by: String,
    pub registered_at: String,
}

impl ReleaseView {
    /// What ECS runs: pinned by digest when there is one.
    pub fn image_ref(&self) -> String {
        match &self.digest {
            Some(digest) => format!(
                "{}@{digest}",
                self.image.split('@').next().unwrap_or(&self.image)
            ),
            None => self.image.clone(),
        }
    }
}

/// What CI sends to register a build. An unknown field is refused: a misspelt `tiket_url` would otherwise be lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRelease {
    pub service: String,
    pub version: String,
    pub image: String,
    #[serde(default)]
    pub digest: Option<String>,
    #[serde(default)]
    pub commit: String,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub ticket_url: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub cpu: Option<String>,
    #[serde(default)]
    pub memory: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleasePage {
    pub releases: Vec<ReleaseView>,
    pub next_before: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Waiting for approvals.
    Requested,
    /// Approved, waiting for the environment and service to be free.
    Queued,
    Snapshot,
    Deploying,
    Ready,
    Switching,
    Baking,
    /// Done switching; the old colour is kept for a fast rollback until it is scaled down.
    Retiring,
    RollingBack,
    /// Stopped by an error it could not get past: resume or roll back.
    Halted,
    Done,
    RolledBack,
    Failed,
    Cancelled,
    Rejected,
}

impl DeploymentState {
    pub const ALL: [DeploymentState; 15] = [
        DeploymentState::Requested,
        DeploymentState::Queued,
        DeploymentState::Snapshot,
        DeploymentState::Deploying,
        DeploymentState::Ready,
        DeploymentState::Switching,
        DeploymentState::Baking,
        DeploymentState::Retiring,
        DeploymentState::RollingBack,
        DeploymentState::Halted,
        DeploymentState::Done,
        DeploymentState::RolledBack,
        DeploymentState::Failed,
        DeploymentState::Cancelled,
        DeploymentState::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentState::Requested => "requested",
            DeploymentState::Queued => "queued",
            DeploymentState::Snapshot => "snapshot",
            DeploymentState::Deploying => "deploying",
            DeploymentState::Ready => "ready",
            DeploymentState::Switching => "switching",
            DeploymentState::Baking => "baking",
            DeploymentState::Retiring => "retiring",
            DeploymentState::RollingBack => "rolling_back",
            DeploymentState::Halted => "halted",
            DeploymentState::Done => "done",
            DeploymentState::RolledBack => "rolled_back",
            DeploymentState::Failed => "failed",
            DeploymentState::Cancelled => "cancelled",
            DeploymentState::Rejected => "rejected",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DeploymentState::Requested => "Awaiting approval",
            DeploymentState::Queued => "Queued",
            DeploymentState::Snapshot => "Snapshot",
            DeploymentState::Deploying => "Deploying",
            DeploymentState::Ready => "Ready",
            DeploymentState::Switching => "Switch",
            DeploymentState::Baking => "Baking",
            DeploymentState::Retiring => "Retiring old colour",
            DeploymentState::RollingBack => "Rolling back",
            DeploymentState::Halted => "Halted",
            DeploymentState::Done => "Done",
            DeploymentState::RolledBack => "Rolled back",
            DeploymentState::Failed => "Failed",
            DeploymentState::Cancelled => "Cancelled",
            DeploymentState::Rejected => "Rejected",
        }
    }

    pub fn parse(text: &str) -> Option<DeploymentState> {
        DeploymentState::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeploymentState::Done
                | DeploymentState::RolledBack
                | DeploymentState::Failed
                | DeploymentState::Cancelled
                | DeploymentState::Rejected
        )
    }
}

/// One line of the task definition diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffLine {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// What a deployment will do, frozen when it is requested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanView {
    pub environment: String,
    pub service: String,
    pub release_id: String,
    pub release_version: String,
    pub from_colour: Colour,
    pub to_colour: Colour,
    /// `family:revision` live now, the rollback target.
    pub live_task_definition: String,
    pub live_task_definition_arn: String,
    /// The family the new revision is registered in (the idle colour's).
    pub new_family: String,
    pub image: String,
    pub desired_count: i32,
    pub diff: Vec<DiffLine>,
    /// Snapshot names taken before deploying.
    pub snapshots: Vec<String>,
    /// The health gate's rollback rules, in words.
    pub gates: Vec<String>,
    /// Traffic steps to the new colour, in percent; the last is 100.
    pub weights: Vec<u8>,
    pub pause_secs: u64,
    pub bake_secs: u64,
    pub scale_down_delay_secs: u64,
    pub ready_timeout_secs: u64,
    pub approvals_required: u32,
    /// Production switches and rollbacks ask for the service's name to be typed.
    pub typed_confirmation: bool,
    /// Freeze windows that apply now, in words (a request then needs break-glass).
    #[serde(default)]
    pub frozen: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalView {
    pub actor: String,
    pub actor_name: String,
    /// approve or reject
    pub decision: String,
    pub reason: String,
    pub decided_at: String,
    pub expires_at: String,
    pub expired: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    pub seq: i32,
    pub kind: String,
    /// What the step does, in words.
    pub title: String,
    /// forward, rollback or cleanup
    pub phase: String,
    /// pending, running, done, failed, skipped
    pub state: String,
    pub attempts: i32,
    pub detail: String,
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// `call` or `observed`
    pub applied_by: Option<String>,
    pub not_before: Option<String>,
    /// The AWS calls made for this step: operation, request id, outcome.
    pub calls: Vec<AwsCallView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AwsCallView {
    pub operation: String,
    pub request_id: Option<String>,
    pub outcome: String,
    pub error_code: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentSummary {
    pub id: String,
    pub seq: i64,
    pub environment: String,
    pub service: String,
    pub release_id: String,
    pub release_version: String,
    pub state: DeploymentState,
    pub from_colour: Colour,
    pub to_colour: Colour,
    pub requested_by: String,
    pub requested_by_name: String,
    pub requested_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
    pub reason: Option<String>,
}

/// What may be done to a deployment now, before roles are considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentAction {
    Approve,
    Reject,
    Cancel,
    SwitchNow,
    Pause,
    Resume,
    Abort,
    RollbackNow,
    /// Try the halted step again.
    Retry,
}

impl DeploymentAction {
    pub const ALL: [DeploymentAction; 9] = [
        DeploymentAction::Approve,
        DeploymentAction::Reject,
        DeploymentAction::Cancel,
        DeploymentAction::SwitchNow,
        DeploymentAction::Pause,
        DeploymentAction::Resume,
        DeploymentAction::Abort,
        DeploymentAction::RollbackNow,
        DeploymentAction::Retry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentAction::Approve => "approve",
            DeploymentAction::Reject => "reject",
            DeploymentAction::Cancel => "cancel",
            DeploymentAction::SwitchNow => "switch_now",
            DeploymentAction::Pause => "pause",
            DeploymentAction::Resume => "resume",
            DeploymentAction::Abort => "abort",
            DeploymentAction::RollbackNow => "rollback_now",
            DeploymentAction::Retry => "retry",
        }
    }

    pub fn parse(text: &str) -> Option<DeploymentAction> {
        DeploymentAction::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
    }

    pub fn label(self) -> &'static str {
        match self {
            DeploymentAction::Approve => "Approve",
            DeploymentAction::Reject => "Reject",
            DeploymentAction::Cancel => "Cancel",
            DeploymentAction::SwitchNow => "Switch now",
            DeploymentAction::Pause => "Pause",
            DeploymentAction::Resume => "Resume",
            DeploymentAction::Abort => "Abort",
            DeploymentAction::RollbackNow => "Roll back now",
            DeploymentAction::Retry => "Retry step",
        }
    }

    /// The permission the action needs.
    pub fn permission(self) -> crate::auth::Permission {
        use crate::auth::Permission;
        match self {
            DeploymentAction::Approve | DeploymentAction::Reject => Permission::ApproveDeploy,
            DeploymentAction::Cancel => Permission::RequestDeploy,
            DeploymentAction::SwitchNow
            | DeploymentAction::Pause
            | DeploymentAction::Resume
            | DeploymentAction::Retry => Permission::SwitchTraffic,
            DeploymentAction::Abort | DeploymentAction::RollbackNow => Permission::Rollback,
        }
    }

    /// Production switches and rollbacks ask for the service name to be typed.
    pub fn needs_typed_confirmation(self) -> bool {
        matches!(
            self,
            DeploymentAction::SwitchNow | DeploymentAction::RollbackNow | DeploymentAction::Abort
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentDetail {
    pub summary: DeploymentSummary,
    pub release: ReleaseView,
    pub plan: PlanView,
    pub approvals: Vec<ApprovalView>,
    /// Valid approvals now (unexpired approve decisions).
    pub approvals_valid: u32,
    pub steps: Vec<StepView>,
    pub paused: bool,
    /// The rules that fired, with their numbers, when the health gate rolled it back.
    pub outcome: Option<String>,
    pub break_glass: Option<String>,
    /// Place in the environment and service's queue (1 = next), when queued.
    pub queue_position: Option<u32>,
    /// The deployment holding the lane while this one waits.
    pub blocked_by: Option<String>,
    pub actions: Vec<DeploymentAction>,
    /// The evidence as it stands now: the live colour's health gate verdict and the rules firing on it…
    pub live_verdict: Option<super::Verdict>,
    pub live_fired: Vec<String>,
    /// …and whether the environment is recoverable from its backups.
    pub backups: Option<super::BackupVerdict>,
    /// The new colour's health now, with its recent history and this deployment's switches marked: shown once
    /// the new colour is deployed, so the bake is watched where the decision is made.
    #[serde(default)]
    pub new_colour_health: Option<super::ServiceHealth>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFilter {
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub release: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentPage {
    pub deployments: Vec<DeploymentSummary>,
    pub next_before: Option<i64>,
}
