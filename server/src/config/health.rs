//! The `[health]` section: the gate's thresholds. Defaults are the seed's automatic-rollback triggers and alert
//! rules; every number can be changed.

use super::{invalid, ConfigError};
use crate::health::gate::{Rule, Severity, Signal, Window};
use crate::health::slo::SloSettings;
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
    slo_objective_percent: Option<f64>,
    slo_window_days: Option<u32>,
    slo_refresh_secs: Option<u64>,
}

pub(super) fn resolve_slo(file: &FileHealth) -> Result<SloSettings, ConfigError> {
    let defaults = SloSettings::default();
    let objective_percent = match file.slo_objective_percent {
        Some(v) if !(v > 0.0 && v < 100.0) => {
            return Err(invalid(
                "health.slo_objective_percent",
                format!("must be between 0 and 100, exclusive (e.g. 99.9), got {v}"),
            ))
        }
        Some(v) => v,
        None => defaults.objective_percent,
    };
    let window_days = match file.slo_window_days {
        Some(d) if !(1..=90).contains(&d) => {
            return Err(invalid(
                "health.slo_window_days",
                format!("must be 1 to 90 days, got {d}"),
            ))
        }
        Some(d) => d,
        None => defaults.window_days,
    };
    let refresh = match file.slo_refresh_secs {
        Some(s) if !(15..=3600).contains(&s) => {
            return Err(invalid(
                "health.slo_refresh_secs",
                format!("must be 15 to 3600 seconds, got {s}"),
            ))
        }
        Some(s) => Duration::from_secs(s),
        None => defaults.refresh,
    };
    Ok(SloSettings {
        objective_percent,
        window_days,
        refresh,
    })
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

    #[test]
    fn the_slo_defaults_to_the_seed_and_bad_values_name_the_key() {
        assert_eq!(
            resolve_slo(&FileHealth::default()).unwrap(),
            SloSettings {
                objective_percent: 99.9,
                window_days: 30,
                refresh: Duration::from_secs(300)
            }
        );
        for (file, key) in [
            (
                FileHealth {
                    slo_objective_percent: Some(100.0),
                    ..Default::default()
                },
                "health.slo_objective_percent",
            ),
            (
                FileHealth {
                    slo_window_days: Some(0),
                    ..Default::default()
                },
                "health.slo_window_days",
            ),
            (
                FileHealth {
                    slo_refresh_secs: Some(5),
                    ..Default::default()
                },
                "health.slo_refresh_secs",
            ),
        ] {
            let error = resolve_slo(&file).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }
}
