//! The `[health]` section: the gate's thresholds. Defaults are the seed's automatic-rollback triggers and alert
//! rules; every number can be changed.

use super::{invalid, ConfigError};
use crate::health::gate::{Rule, Severity, Signal, Window};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileHealth {
    health_check_failures: Option<u32>,
    error_rate_rollback_percent: Option<f64>,
    error_rate_rollback_minutes: Option<u64>,
    p95_rollback_ms: Option<f64>,
    p95_rollback_minutes: Option<u64>,
    error_rate_alert_percent: Option<f64>,
    error_rate_alert_minutes: Option<u64>,
    p95_alert_ms: Option<f64>,
    p95_alert_minutes: Option<u64>,
    cpu_alert_percent: Option<f64>,
    memory_alert_percent: Option<f64>,
    resource_alert_minutes: Option<u64>,
}

pub(super) fn resolve_health(file: FileHealth) -> Result<Vec<Rule>, ConfigError> {
    let number = |key: &str, value: Option<f64>, default: f64| -> Result<f64, ConfigError> {
        match value {
            Some(v) if !v.is_finite() || v < 0.0 => Err(invalid(
                format!("health.{key}"),
                format!("must be a number ≥ 0, got {v}"),
            )),
            Some(v) => Ok(v),
            None => Ok(default),
        }
    };
    let minutes = |key: &str, value: Option<u64>, default: u64| -> Result<Window, ConfigError> {
        match value.unwrap_or(default) {
            0 => Err(invalid(
                format!("health.{key}"),
                "must be at least 1 minute",
            )),
            m if m > 60 => Err(invalid(
                format!("health.{key}"),
                format!("must be at most 60 minutes (the collector looks back 20; got {m})"),
            )),
            m => Ok(Window::For(Duration::from_secs(m * 60))),
        }
    };
    let rule = |name: &str, signal, threshold, window, severity| Rule {
        name: name.into(),
        signal,
        threshold,
        window,
        severity,
    };
    use Severity::*;
    use Signal::*;
    let resources = minutes("resource_alert_minutes", file.resource_alert_minutes, 15)?;
    Ok(vec![
        rule(
            "health checks failing",
            UnhealthyHosts,
            0.0,
            Window::MoreThanConsecutive(file.health_check_failures.unwrap_or(3)),
            Failing,
        ),
        rule(
            "error rate (rollback)",
            ErrorRate,
            number(
                "error_rate_rollback_percent",
                file.error_rate_rollback_percent,
                5.0,
            )?,
            minutes(
                "error_rate_rollback_minutes",
                file.error_rate_rollback_minutes,
                2,
            )?,
            Failing,
        ),
        rule(
            "latency p95 (rollback)",
            P95Ms,
            number("p95_rollback_ms", file.p95_rollback_ms, 2000.0)?,
            minutes("p95_rollback_minutes", file.p95_rollback_minutes, 5)?,
            Failing,
        ),
        rule(
            "error rate (critical alert)",
            ErrorRate,
            number(
                "error_rate_alert_percent",
                file.error_rate_alert_percent,
                1.0,
            )?,
            minutes("error_rate_alert_minutes", file.error_rate_alert_minutes, 5)?,
            Degraded,
        ),
        rule(
            "latency p95 (warning)",
            P95Ms,
            number("p95_alert_ms", file.p95_alert_ms, 800.0)?,
            minutes("p95_alert_minutes", file.p95_alert_minutes, 10)?,
            Degraded,
        ),
        rule(
            "CPU (warning)",
            CpuPercent,
            number("cpu_alert_percent", file.cpu_alert_percent, 80.0)?,
            resources,
            Degraded,
        ),
        rule(
            "memory (warning)",
            MemoryPercent,
            number("memory_alert_percent", file.memory_alert_percent, 85.0)?,
            resources,
            Degraded,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_seed_rules_and_changes_name_the_key() {
        let seed = resolve_health(FileHealth::default()).unwrap();
        let rollback = &seed[1];
        assert_eq!(
            (
                rollback.signal,
                rollback.threshold,
                rollback.window,
                rollback.severity
            ),
            (
                Signal::ErrorRate,
                5.0,
                Window::For(Duration::from_secs(120)),
                Severity::Failing
            )
        );
        assert_eq!(seed.len(), 7);
        let custom = resolve_health(FileHealth {
            error_rate_rollback_percent: Some(2.5),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(custom[1].threshold, 2.5);
        let error = resolve_health(FileHealth {
            p95_alert_minutes: Some(0),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("health.p95_alert_minutes"), "{error}");
    }
}
