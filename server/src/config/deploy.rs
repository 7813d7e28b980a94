//! How deployments run: `[engine]` (the workers) and each environment's `[environments.deploy]` (approvals,
//! traffic steps, bake, freeze windows). Defaults follow the seed: one approval, 100 % in one switch, a 10-minute
//! bake, the old colour kept 15 minutes for a fast rollback.

use super::{invalid, layered_int, ConfigError};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// How long a claimed deployment stays with one replica without a word from it.
    pub lease: Duration,
    /// How often an idle worker looks for due work (actions also wake it at once).
    pub poll: Duration,
    /// Attempts per step before the deployment halts for a person.
    pub step_max_attempts: u32,
    /// Workers in this process; 0 runs none (a read-only replica).
    pub workers: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(1000),
            step_max_attempts: 5,
            workers: 1,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileEngine {
    lease_secs: Option<i64>,
    poll_ms: Option<i64>,
    step_max_attempts: Option<i64>,
    workers: Option<i64>,
}

pub(super) fn resolve_engine(
    file: FileEngine,
    env: &HashMap<String, String>,
) -> Result<EngineConfig, ConfigError> {
    let d = EngineConfig::default();
    Ok(EngineConfig {
        lease: Duration::from_secs(layered_int(
            env,
            "SIGNALBOX_ENGINE_LEASE_SECS",
            "engine.lease_secs",
            file.lease_secs,
            d.lease.as_secs() as i64,
            2..=3600,
        )? as u64),
        poll: Duration::from_millis(layered_int(
            env,
            "SIGNALBOX_ENGINE_POLL_MS",
            "engine.poll_ms",
            file.poll_ms,
            d.poll.as_millis() as i64,
            10..=60_000,
        )? as u64),
        step_max_attempts: layered_int(
            env,
            "SIGNALBOX_ENGINE_STEP_MAX_ATTEMPTS",
            "engine.step_max_attempts",
            file.step_max_attempts,
            i64::from(d.step_max_attempts),
            1..=20,
        )? as u32,
        workers: layered_int(
            env,
            "SIGNALBOX_ENGINE_WORKERS",
            "engine.workers",
            file.workers,
            i64::from(d.workers),
            0..=16,
        )? as u32,
    })
}

/// A period in which deploys to the environment are refused unless an admin breaks glass.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FreezeWindow {
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeployPolicy {
    /// 0: approved on request (staging's usual choice).
    pub approvals_required: u32,
    pub approval_expiry_hours: u32,
    /// Percent of traffic on the new colour at each switch step; the last is 100.
    pub weights: Vec<u8>,
    /// Wait between weighted steps.
    pub pause_secs: u64,
    pub bake_secs: u64,
    /// A bake that ends with no health data for the new colour halts for a person (retry the step to watch
    /// again, or roll back) instead of passing: no data proves nothing.
    pub bake_requires_data: bool,
    pub scale_down_delay_secs: u64,
    pub ready_timeout_secs: u64,
    /// Switches and rollbacks ask for the service's name to be typed.
    pub typed_confirmation: bool,
    /// A production environment: with `backups.block_production_deploys`, deploys are refused while the
    /// backups say it is not recoverable (an admin may break glass).
    pub production: bool,
    pub freeze: Vec<FreezeWindow>,
}

impl Default for DeployPolicy {
    fn default() -> Self {
        DeployPolicy {
            approvals_required: 1,
            approval_expiry_hours: 24,
            weights: vec![100],
            pause_secs: 60,
            bake_secs: 600,
            bake_requires_data: false,
            scale_down_delay_secs: 900,
            ready_timeout_secs: 900,
            typed_confirmation: false,
            production: false,
            freeze: Vec::new(),
        }
    }
}

impl DeployPolicy {
    /// The freeze window in force at `now`, if any.
    pub fn frozen_at(&self, now: OffsetDateTime) -> Option<&FreezeWindow> {
        self.freeze.iter().find(|w| w.from <= now && now < w.until)
    }

    pub fn validate(&self, environment: &str) -> Result<(), ConfigError> {
        let key = |k: &str| format!("environments[{environment}].deploy.{k}");
        if self.approvals_required > 10 {
            return Err(invalid(
                key("approvals_required"),
                format!("must be 0 to 10, got {}", self.approvals_required),
            ));
        }
        if !(1..=720).contains(&self.approval_expiry_hours) {
            return Err(invalid(
                key("approval_expiry_hours"),
                format!("must be 1 to 720, got {}", self.approval_expiry_hours),
            ));
        }
        let increasing = self.weights.windows(2).all(|w| w[0] < w[1]);
        if self.weights.last() != Some(&100) || !increasing || self.weights.contains(&0) {
            return Err(invalid(
                key("weights"),
                format!(
                    "must rise from above 0 and end at 100, e.g. [10, 50, 100]; got {:?}",
                    self.weights
                ),
            ));
        }
        if self.ready_timeout_secs == 0 {
            return Err(invalid(key("ready_timeout_secs"), "must be above 0"));
        }
        for window in &self.freeze {
            if window.from >= window.until {
                return Err(invalid(
                    key("freeze"),
                    format!("{:?} ends before it starts", window.reason),
                ));
            }
            if window.reason.trim().is_empty() {
                return Err(invalid(key("freeze"), "every window needs a reason"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_must_rise_to_100_and_freeze_windows_need_a_reason() {
        let mut policy = DeployPolicy::default();
        assert!(policy.validate("production").is_ok());
        policy.weights = vec![10, 50, 100];
        assert!(policy.validate("production").is_ok());
        policy.weights = vec![50, 10, 100];
        let error = policy.validate("production").unwrap_err().to_string();
        assert!(
            error.contains("environments[production].deploy.weights"),
            "{error}"
        );
        policy.weights = vec![100];
        policy.freeze.push(FreezeWindow {
            from: time::macros::datetime!(2026-12-20 0:00 UTC),
            until: time::macros::datetime!(2027-01-03 0:00 UTC),
            reason: " ".into(),
        });
        assert!(policy
            .validate("production")
            .unwrap_err()
            .to_string()
            .contains("reason"));
        policy.freeze[0].reason = "holiday freeze".into();
        assert!(policy
            .frozen_at(time::macros::datetime!(2026-12-24 12:00 UTC))
            .is_some());
        assert!(policy
            .frozen_at(time::macros::datetime!(2027-01-03 0:00 UTC))
            .is_none());
    }
}
