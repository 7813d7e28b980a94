//! Wire types of service health: the gate's verdicts and the numbers behind them.

use serde::{Deserialize, Serialize};

/// What a rule watches. Percentages are 0–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// 5xx responses as a share of requests.
    ErrorRate,
    P95Ms,
    P99Ms,
    CpuPercent,
    MemoryPercent,
    /// Targets failing their health check.
    UnhealthyHosts,
}

impl Signal {
    pub fn label(self) -> &'static str {
        match self {
            Signal::ErrorRate => "5xx",
            Signal::P95Ms => "p95",
            Signal::P99Ms => "p99",
            Signal::CpuPercent => "CPU",
            Signal::MemoryPercent => "memory",
            Signal::UnhealthyHosts => "unhealthy targets",
        }
    }

    pub fn format(self, value: f64) -> String {
        match self {
            Signal::ErrorRate | Signal::CpuPercent | Signal::MemoryPercent => {
                format!("{value:.1} %")
            }
            Signal::P95Ms | Signal::P99Ms => format!("{value:.0} ms"),
            Signal::UnhealthyHosts => format!("{value:.0}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// No traffic and no samples: never read as zero, never as healthy.
    NoData,
    Healthy,
    Degraded,
    Failing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// An alert: people should look.
    Degraded,
    /// A rollback trigger.
    Failing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    pub rule: String,
    pub severity: Severity,
    pub signal: Signal,
    /// The lowest value over the window (the rule held even at its best moment).
    pub value: f64,
    pub threshold: f64,
    /// "5xx 7.2 % > 5.0 % for 2 min"
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub fired: Vec<Firing>,
    /// Unix seconds of the newest sample judged.
    pub as_of: Option<i64>,
}

/// The latest value of each KPI over the last sampling period; `None` is "no data", never zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kpis {
    pub requests_per_second: Option<f64>,
    pub error_rate_percent: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    pub healthy_hosts: Option<f64>,
    pub unhealthy_hosts: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColourHealth {
    pub colour: crate::dto::Colour,
    pub judgement: Judgement,
    pub kpis: Kpis,
    /// Per signal, (unix seconds, value) oldest first, for the charts.
    pub history: Vec<(Signal, Vec<(i64, f64)>)>,
}

/// The signals the health panel draws per colour.
pub const CHARTED_SIGNALS: [Signal; 2] = [Signal::ErrorRate, Signal::P95Ms];

impl ColourHealth {
    pub fn history(&self, signal: Signal) -> &[(i64, f64)] {
        self.history
            .iter()
            .find(|(s, _)| *s == signal)
            .map(|(_, points)| points.as_slice())
            .unwrap_or(&[])
    }
}

/// One service's health as the shared collector last judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceHealth {
    pub environment: String,
    pub service: String,
    /// When the metrics were read (RFC 3339), if ever.
    pub as_of: Option<String>,
    pub age_secs: Option<u64>,
    /// The last read failed and what is shown is older.
    pub stale: bool,
    /// Why the last read failed, in our words.
    pub error: Option<String>,
    pub colours: Vec<ColourHealth>,
    /// The rules the colours were judged by, for drawing their thresholds.
    pub rules: Vec<RuleView>,
    /// ECS tasks and ALB targets per colour.
    #[serde(default)]
    pub fleet: Vec<crate::dto::ColourFleet>,
    /// The CloudWatch alarms on this service's colours, then the environment-wide ones.
    #[serde(default)]
    pub alarms: Vec<crate::dto::AlarmView>,
    #[serde(default)]
    pub alarms_state: crate::dto::PanelState,
    /// Availability and error budget; `None` until first read.
    #[serde(default)]
    pub slo: Option<crate::dto::SloView>,
    #[serde(default)]
    pub slo_state: crate::dto::PanelState,
    /// Signalbox's own switches of this service in the SLO window, oldest first: the charts' markers.
    #[serde(default)]
    pub deploy_markers: Vec<DeployMarker>,
}

impl ServiceHealth {
    /// Only the series a page draws: a page ships its data again for hydration, and the API keeps them all.
    pub fn charted_only(mut self) -> Self {
        for colour in &mut self.colours {
            colour
                .history
                .retain(|(signal, _)| CHARTED_SIGNALS.contains(signal));
        }
        self
    }
}

/// A moment traffic moved: a deployment's switch (or its rollback's), drawn as a line on the charts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployMarker {
    /// Unix seconds.
    pub at: i64,
    pub deployment_id: String,
    /// "v1.4.2: 10 % to green" or "rollback of v1.4.2: all traffic to blue", for the tooltip.
    pub label: String,
    pub rollback: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleView {
    pub name: String,
    pub signal: Signal,
    pub threshold: f64,
    pub severity: Severity,
    /// "for 2 min", "in 4 consecutive checks"
    pub window: String,
}

/// The seed's SLA, shown beside each KPI: p95 < 500 ms, p99 < 1000 ms, 5xx < 0.1 %.
pub const SLA: &[(Signal, f64)] = &[
    (Signal::P95Ms, 500.0),
    (Signal::P99Ms, 1000.0),
    (Signal::ErrorRate, 0.1),
];
