//! One shared health collector per environment: every interval, one GetMetricData call (up to 500 series) for
//! every service colour's ALB and ECS metrics, judged by the gate; viewers and the release engine read the
//! result, so AWS calls do not grow with them. A failed read keeps the last judgement, marked stale.

use super::gate::{judge, Rule, Samples, Series, Signal};
use crate::aws::{AwsError, AwsErrorKind, EnvironmentAws, MetricQuery, MetricSeries};
use crate::config::{Colour, EnvironmentConfig};
use crate::topology::{overdue, poll_until_shutdown, summarise_failures, FailureEpisode};
use app::dto::{ColourHealth, Kpis, ServiceHealth};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::watch;

/// CloudWatch's finest standard resolution for these metrics.
pub const PERIOD_SECS: i32 = 60;
/// How far back each read looks: the longest seed rule (15 min) and a margin.
const LOOKBACK: time::Duration = time::Duration::minutes(20);

#[derive(Debug, Clone)]
pub struct HealthReading {
    /// Per service, both colours, in configuration order.
    pub services: Vec<(String, Vec<ColourHealth>)>,
    pub observed_at: Option<OffsetDateTime>,
    pub error: Option<String>,
    pub stale: bool,
}

/// The metrics read per colour: (suffix of the query id, namespace, metric, statistic, signal it feeds).
const ALB_METRICS: &[(&str, &str, &str)] = &[
    ("req", "RequestCount", "Sum"),
    ("err", "HTTPCode_Target_5XX_Count", "Sum"),
    ("p95", "TargetResponseTime", "p95"),
    ("p99", "TargetResponseTime", "p99"),
    ("hh", "HealthyHostCount", "Minimum"),
    ("uh", "UnHealthyHostCount", "Maximum"),
];
const ECS_METRICS: &[(&str, &str, &str)] = &[
    ("cpu", "CPUUtilization", "Average"),
    ("mem", "MemoryUtilization", "Average"),
];

pub struct HealthCollector {
    environment: EnvironmentConfig,
    aws: EnvironmentAws,
    interval: Duration,
    rules: Vec<Rule>,
    /// target group name → (LoadBalancer, TargetGroup) dimension values; ARNs never change.
    dimensions: Mutex<HashMap<String, (String, String)>>,
    state: watch::Sender<Option<HealthReading>>,
    episode: FailureEpisode,
}

fn colours() -> [Colour; 2] {
    [Colour::Blue, Colour::Green]
}

impl HealthCollector {
    pub fn new(
        environment: EnvironmentConfig,
        aws: EnvironmentAws,
        interval: Duration,
        rules: Vec<Rule>,
    ) -> Arc<Self> {
        Arc::new(HealthCollector {
            environment,
            aws,
            interval,
            rules,
            dimensions: Mutex::new(HashMap::new()),
            state: watch::Sender::new(None),
            episode: FailureEpisode::default(),
        })
    }

    pub fn environment(&self) -> &EnvironmentConfig {
        &self.environment
    }

    pub fn subscribe(&self) -> watch::Receiver<Option<HealthReading>> {
        self.state.subscribe()
    }

    /// Polls until `shutdown`, backing off while AWS throttles.
    pub async fn run(self: Arc<Self>, shutdown: watch::Receiver<bool>) {
        poll_until_shutdown(self.interval, shutdown, || self.collect_once()).await;
    }

    async fn dimensions_of(&self, target_group: &str) -> Result<(String, String), AwsError> {
        if let Some(found) = self.dimensions.lock().expect("lock").get(target_group) {
            return Ok(found.clone());
        }
        let found = self
            .aws
            .routing
            .metric_dimensions(&self.environment.load_balancer, target_group)
            .await?;
        self.dimensions
            .lock()
            .expect("lock")
            .insert(target_group.to_string(), found.clone());
        Ok(found)
    }

    /// The queries for every service colour; ids are `s{service}{b|g}_{metric}`.
    async fn queries(&self) -> (Vec<MetricQuery>, Vec<AwsError>) {
        let mut queries = Vec::new();
        let mut failures = Vec::new();
        for (index, service) in self.environment.services.iter().enumerate() {
            for colour in colours() {
                let config = service.colour(colour);
                let prefix = format!("s{index}{}", &colour.as_str()[..1]);
                match self.dimensions_of(&config.target_group).await {
                    Ok((load_balancer, target_group)) => {
                        for (suffix, metric, stat) in ALB_METRICS {
                            queries.push(MetricQuery {
                                id: format!("{prefix}_{suffix}"),
                                namespace: "AWS/ApplicationELB".into(),
                                metric: (*metric).into(),
                                dimensions: vec![
                                    ("LoadBalancer".into(), load_balancer.clone()),
                                    ("TargetGroup".into(), target_group.clone()),
                                ],
                                stat: (*stat).into(),
                                period_secs: PERIOD_SECS,
                            });
                        }
                    }
                    Err(error) => failures.push(error),
                }
                for (suffix, metric, stat) in ECS_METRICS {
                    queries.push(MetricQuery {
                        id: format!("{prefix}_{suffix}"),
                        namespace: "AWS/ECS".into(),
                        metric: (*metric).into(),
                        dimensions: vec![
                            ("ClusterName".into(), self.environment.cluster.clone()),
                            ("ServiceName".into(), config.ecs_service.clone()),
                        ],
                        stat: (*stat).into(),
                        period_secs: PERIOD_SECS,
                    });
                }
            }
        }
        (queries, failures)
    }

    /// One read and judgement; publishes it. Returns true when AWS throttled us.
    #[tracing::instrument(skip_all, fields(environment = %self.environment.name))]
    pub async fn collect_once(&self) -> bool {
        let (queries, mut failures) = self.queries().await;
        // Whole periods only: the current minute is still filling up, and would read as a drop in traffic.
        let read_at = OffsetDateTime::now_utc();
        let now = read_at.unix_timestamp();
        let end = OffsetDateTime::from_unix_timestamp(now - now.rem_euclid(i64::from(PERIOD_SECS)))
            .unwrap_or(read_at);
        let result = self
            .aws
            .monitoring
            .metric_data(&queries, end - LOOKBACK, end)
            .await;
        let throttled = matches!(&result, Err(e) if e.kind == AwsErrorKind::Throttled)
            || failures.iter().any(|e| e.kind == AwsErrorKind::Throttled);
        let series = match result {
            Ok(series) => Some(series),
            Err(error) => {
                failures.push(error);
                None
            }
        };
        self.episode
            .observe(&self.environment.name, "CloudWatch reads", &failures);
        let error = summarise_failures(&failures);
        self.state.send_modify(|state| match series {
            Some(series) => {
                *state = Some(HealthReading {
                    services: self.judge_all(&series),
                    observed_at: Some(read_at),
                    error,
                    stale: false,
                })
            }
            None => match state {
                // Keep the last good judgement, marked stale with the reason.
                Some(previous) => {
                    previous.error = error;
                    previous.stale = true;
                }
                None => {
                    *state = Some(HealthReading {
                        services: Vec::new(),
                        observed_at: None,
                        error,
                        stale: true,
                    })
                }
            },
        });
        throttled
    }

    fn judge_all(&self, series: &[MetricSeries]) -> Vec<(String, Vec<ColourHealth>)> {
        let by_id: HashMap<&str, &MetricSeries> =
            series.iter().map(|s| (s.id.as_str(), s)).collect();
        self.environment
            .services
            .iter()
            .enumerate()
            .map(|(index, service)| {
                let colours = colours()
                    .into_iter()
                    .map(|colour| {
                        let prefix = format!("s{index}{}", &colour.as_str()[..1]);
                        let get = |suffix: &str| -> Vec<(OffsetDateTime, f64)> {
                            by_id
                                .get(format!("{prefix}_{suffix}").as_str())
                                .map(|s| s.points.clone())
                                .unwrap_or_default()
                        };
                        self.judge_colour(colour, &get)
                    })
                    .collect();
                (service.name.clone(), colours)
            })
            .collect()
    }

    fn judge_colour(
        &self,
        colour: Colour,
        get: &dyn Fn(&str) -> Vec<(OffsetDateTime, f64)>,
    ) -> ColourHealth {
        let requests = get("req");
        // CloudWatch has no 5xx datapoint for a minute without errors: with requests, that minute is 0 %.
        let errors: HashMap<i64, f64> = get("err")
            .into_iter()
            .map(|(at, v)| (at.unix_timestamp(), v))
            .collect();
        let error_rate: Vec<(OffsetDateTime, f64)> = requests
            .iter()
            .filter(|(_, r)| *r > 0.0)
            .map(|(at, r)| {
                let e = errors.get(&at.unix_timestamp()).copied().unwrap_or(0.0);
                (*at, e / r * 100.0)
            })
            .collect();
        let millis = |points: Vec<(OffsetDateTime, f64)>| {
            points
                .into_iter()
                .map(|(at, s)| (at, s * 1000.0))
                .collect::<Vec<_>>()
        };
        let series = vec![
            (Signal::ErrorRate, Series::from_points(error_rate.clone())),
            (Signal::P95Ms, Series::from_points(millis(get("p95")))),
            (Signal::P99Ms, Series::from_points(millis(get("p99")))),
            (Signal::CpuPercent, Series::from_points(get("cpu"))),
            (Signal::MemoryPercent, Series::from_points(get("mem"))),
            (Signal::UnhealthyHosts, Series::from_points(get("uh"))),
        ];
        let samples = Samples {
            period_secs: i64::from(PERIOD_SECS),
            series,
        };
        let latest = |points: &[(i64, f64)]| points.last().map(|(_, v)| *v);
        let newest = |signal: Signal| samples.get(signal).and_then(|s| latest(&s.points));
        let kpis = Kpis {
            requests_per_second: latest(&Series::from_points(requests).points)
                .map(|r| r / f64::from(PERIOD_SECS)),
            error_rate_percent: newest(Signal::ErrorRate),
            p95_ms: newest(Signal::P95Ms),
            p99_ms: newest(Signal::P99Ms),
            cpu_percent: newest(Signal::CpuPercent),
            memory_percent: newest(Signal::MemoryPercent),
            healthy_hosts: latest(&Series::from_points(get("hh")).points),
            unhealthy_hosts: newest(Signal::UnhealthyHosts),
        };
        // Judged at the newest complete sample.
        let now = samples
            .series
            .iter()
            .filter_map(|(_, s)| s.points.last().map(|(at, _)| *at))
            .max()
            .unwrap_or_default();
        ColourHealth {
            colour,
            judgement: judge(&self.rules, &samples, now),
            kpis,
            history: samples
                .series
                .iter()
                .map(|(signal, series)| (*signal, series.points.clone()))
                .collect(),
        }
    }

    /// One service's health as last judged, for pages and the API.
    pub fn service(&self, name: &str) -> Option<ServiceHealth> {
        self.environment.service(name)?;
        let reading = self.state.borrow().clone();
        let now = OffsetDateTime::now_utc();
        Some(match reading {
            Some(reading) => ServiceHealth {
                environment: self.environment.name.clone(),
                service: name.to_string(),
                as_of: reading.observed_at.map(crate::audit::chain::canonical_time),
                age_secs: reading
                    .observed_at
                    .map(|at| (now - at).whole_seconds().max(0) as u64),
                stale: reading.stale
                    || reading
                        .observed_at
                        .is_some_and(|at| overdue(self.interval, at, now)),
                error: reading.error.clone(),
                colours: reading
                    .services
                    .iter()
                    .find(|(service, _)| service == name)
                    .map(|(_, colours)| colours.clone())
                    .unwrap_or_default(),
                rules: self.rules.iter().map(super::gate::view).collect(),
            },
            None => ServiceHealth {
                environment: self.environment.name.clone(),
                service: name.to_string(),
                as_of: None,
                age_secs: None,
                stale: true,
                error: Some("not read yet".into()),
                colours: Vec::new(),
                rules: self.rules.iter().map(super::gate::view).collect(),
            },
        })
    }
}
