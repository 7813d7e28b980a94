//! One shared health collector per environment. Every interval: one GetMetricData call (up to 500 series) for
//! every service colour's ALB and ECS metrics, judged by the gate; each colour's ECS tasks and ALB targets; the
//! environment's CloudWatch alarms. Every `slo_refresh_secs`: the SLO window's request and 5xx counts. Viewers and
//! the release engine read the result, so AWS calls do not grow with them. Each part keeps its last good value
//! when a read fails, marked stale, so one failing read degrades one panel, not the page.

use super::gate::{judge, Rule, Samples, Series, Signal};
use super::slo::{self, Bucket, SloSettings};
use crate::audit::chain::canonical_time;
use crate::aws::ecs::{arn_id, family_revision_of_arn};
use crate::aws::{
    AlarmSummary, AwsError, AwsErrorKind, EnvironmentAws, MetricQuery, MetricSeries,
    TargetGroupIds, TargetHealthSummary, TaskSummary,
};
use crate::config::{Colour, EnvironmentConfig};
use crate::topology::{overdue, poll_until_shutdown, summarise_failures, FailureEpisode};
use app::dto::{
    AlarmView, ColourFleet, ColourHealth, Kpis, PanelState, ServiceHealth, SloView, TargetView,
    TaskView,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::watch;

/// CloudWatch's finest standard resolution for these metrics.
pub const PERIOD_SECS: i32 = 60;
/// How far back each read looks: the longest seed rule (15 min) and a margin.
const LOOKBACK: time::Duration = time::Duration::minutes(20);
/// The SLO's recent buckets: fine enough for the 5-minute burn window, at least 6 hours for the 6-hour one.
const SLO_FINE_PERIOD: i64 = 300;
const SLO_FINE_SPAN: i64 = 6 * 3600;
const SLO_HOUR: i64 = 3600;

/// One read's last good value and how the latest attempt went.
#[derive(Debug, Clone)]
pub struct Part<T> {
    pub value: Option<T>,
    pub observed_at: Option<OffsetDateTime>,
    /// Why the latest attempt failed, in our words.
    pub error: Option<String>,
    pub failed: bool,
}

impl<T> Default for Part<T> {
    fn default() -> Self {
        Part {
            value: None,
            observed_at: None,
            error: None,
            failed: false,
        }
    }
}

impl<T> Part<T> {
    fn record(&mut self, result: Result<T, Option<String>>, at: OffsetDateTime) {
        match result {
            Ok(value) => {
                *self = Part {
                    value: Some(value),
                    observed_at: Some(at),
                    error: None,
                    failed: false,
                }
            }
            Err(error) => {
                self.error = error;
                self.failed = true;
            }
        }
    }

    /// Fresh, or stale: failed, never read, or older than two `interval`s.
    fn panel(&self, interval: Duration, now: OffsetDateTime) -> PanelState {
        PanelState {
            as_of: self.observed_at.map(canonical_time),
            age_secs: self
                .observed_at
                .map(|at| (now - at).whole_seconds().max(0) as u64),
            stale: self.failed
                || self.observed_at.is_none()
                || self
                    .observed_at
                    .is_some_and(|at| overdue(interval, at, now)),
            error: self
                .error
                .clone()
                .or_else(|| self.observed_at.is_none().then(|| "not read yet".into())),
        }
    }
}

/// Per colour: its tasks and its targets.
#[derive(Debug, Clone, Default)]
pub struct FleetParts {
    pub tasks: Part<Vec<TaskSummary>>,
    pub targets: Part<Vec<TargetHealthSummary>>,
}

#[derive(Debug, Clone, Default)]
pub struct HealthReading {
    /// Per service, both colours, in configuration order.
    pub metrics: Part<Vec<(String, Vec<ColourHealth>)>>,
    /// Keyed by (service index, colour).
    pub fleet: HashMap<(usize, Colour), FleetParts>,
    pub alarms: Part<Vec<AlarmSummary>>,
    /// Per service, in configuration order.
    pub slo: Part<Vec<SloView>>,
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
    slo: SloSettings,
    /// target group name → its ARN and dimension values; ARNs never change.
    dimensions: Mutex<HashMap<String, TargetGroupIds>>,
    state: watch::Sender<Option<HealthReading>>,
    episode: FailureEpisode,
    /// When the SLO window was last read successfully.
    slo_read: Mutex<Option<Instant>>,
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
        slo: SloSettings,
    ) -> Arc<Self> {
        Arc::new(HealthCollector {
            environment,
            aws,
            interval,
            rules,
            slo,
            dimensions: Mutex::new(HashMap::new()),
            state: watch::Sender::new(None),
            episode: FailureEpisode::default(),
            slo_read: Mutex::new(None),
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

    async fn dimensions_of(&self, target_group: &str) -> Result<TargetGroupIds, AwsError> {
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
                    Ok(ids) => {
                        for (suffix, metric, stat) in ALB_METRICS {
                            queries.push(alb_query(
                                format!("{prefix}_{suffix}"),
                                &ids,
                                metric,
                                stat,
                                PERIOD_SECS,
                            ));
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

    /// One round: metrics, tasks and targets, alarms, and the SLO window when due; publishes each part as it
    /// lands. Returns true when AWS throttled us.
    #[tracing::instrument(skip_all, fields(environment = %self.environment.name))]
    pub async fn collect_once(&self) -> bool {
        let slo_due = self
            .slo_read
            .lock()
            .expect("lock")
            .is_none_or(|at| at.elapsed() >= self.slo.refresh);
        let (metrics, fleet, alarms, slo) = tokio::join!(
            self.read_metrics(),
            self.read_fleet(),
            self.read_alarms(),
            async {
                match slo_due {
                    true => Some(self.read_slo().await),
                    false => None,
                }
            },
        );
        let read_at = OffsetDateTime::now_utc();
        let mut failures: Vec<AwsError> = Vec::new();
        // Partial metrics (a target group not found) are still judged; the panel names what is missing.
        let (metrics, missing) = match metrics {
            Ok((value, missing)) => (Ok(value), missing),
            Err(errors) => (Err(errors), Vec::new()),
        };
        let missing_message = summarise_failures(&missing);
        failures.extend(missing);
        let metrics = outcome(&mut failures, metrics);
        let alarms = outcome(&mut failures, alarms);
        let slo = slo.map(|slo| outcome(&mut failures, slo));
        let fleet: Vec<_> = fleet
            .into_iter()
            .map(|(key, tasks, targets)| {
                (
                    key,
                    outcome(&mut failures, tasks),
                    outcome(&mut failures, targets),
                )
            })
            .collect();
        if matches!(slo, Some(Ok(_))) {
            *self.slo_read.lock().expect("lock") = Some(Instant::now());
        }
        let throttled = failures.iter().any(|e| e.kind == AwsErrorKind::Throttled);
        self.episode
            .observe(&self.environment.name, "health reads", &failures);
        self.state.send_modify(|state| {
            let reading = state.get_or_insert_with(HealthReading::default);
            reading.metrics.record(metrics, read_at);
            if !reading.metrics.failed {
                reading.metrics.error = missing_message;
            }
            reading.alarms.record(alarms, read_at);
            if let Some(slo) = slo {
                reading.slo.record(slo, read_at);
            }
            for (key, tasks, targets) in fleet {
                let parts = reading.fleet.entry(key).or_default();
                parts.tasks.record(tasks, read_at);
                parts.targets.record(targets, read_at);
            }
        });
        throttled
    }

    /// The judged colours, and the reads that failed on the way (a colour without its ALB metrics).
    #[allow(clippy::type_complexity)]
    async fn read_metrics(
        &self,
    ) -> Result<(Vec<(String, Vec<ColourHealth>)>, Vec<AwsError>), Vec<AwsError>> {
        let (queries, failures) = self.queries().await;
        // Whole periods only: the current minute is still filling up, and would read as a drop in traffic.
        let end = whole(OffsetDateTime::now_utc(), i64::from(PERIOD_SECS));
        let series = self
            .aws
            .monitoring
            .metric_data(&queries, end - LOOKBACK, end)
            .await
            .map_err(|e| vec![e])?;
        Ok((self.judge_all(&series), failures))
    }

    /// Each colour's tasks and targets.
    #[allow(clippy::type_complexity)]
    async fn read_fleet(
        &self,
    ) -> Vec<(
        (usize, Colour),
        Result<Vec<TaskSummary>, Vec<AwsError>>,
        Result<Vec<TargetHealthSummary>, Vec<AwsError>>,
    )> {
        let reads = self
            .environment
            .services
            .iter()
            .enumerate()
            .flat_map(|(index, service)| colours().map(move |colour| (index, service, colour)))
            .map(|(index, service, colour)| async move {
                let config = service.colour(colour);
                let tasks = self
                    .aws
                    .fleet
                    .tasks(&self.environment.cluster, &config.ecs_service)
                    .await
                    .map_err(|e| vec![e]);
                let targets = match self.dimensions_of(&config.target_group).await {
                    Ok(ids) => self
                        .aws
                        .routing
                        .target_health(&ids.target_group_arn)
                        .await
                        .map_err(|e| vec![e]),
                    Err(e) => Err(vec![e]),
                };
                ((index, colour), tasks, targets)
            });
        futures::future::join_all(reads).await
    }

    async fn read_alarms(&self) -> Result<Vec<AlarmSummary>, Vec<AwsError>> {
        match &self.environment.alarm_prefix {
            Some(prefix) => self
                .aws
                .monitoring
                .alarms(prefix)
                .await
                .map_err(|e| vec![e]),
            // Without a prefix we cannot tell this environment's alarms from the account's others.
            None => Ok(Vec::new()),
        }
    }

    /// The SLO window's request and 5xx counts per service (both colours summed: users see the service): hours
    /// for the window, 5-minute buckets for the recent hours. Two calls, whatever the number of services.
    async fn read_slo(&self) -> Result<Vec<SloView>, Vec<AwsError>> {
        let now = OffsetDateTime::now_utc();
        let fine_end = whole(now, SLO_FINE_PERIOD);
        // The fine buckets start on the hour where the hourly ones end, so no bucket falls between the two.
        let fine_start = whole(fine_end - time::Duration::seconds(SLO_FINE_SPAN), SLO_HOUR);
        let hourly_end = fine_start;
        let hourly_start = hourly_end
            - time::Duration::days(i64::from(self.slo.window_days))
            - time::Duration::hours(1);
        let mut queries_hourly = Vec::new();
        let mut queries_fine = Vec::new();
        let mut failures = Vec::new();
        for (index, service) in self.environment.services.iter().enumerate() {
            for colour in colours() {
                let ids = match self
                    .dimensions_of(&service.colour(colour).target_group)
                    .await
                {
                    Ok(ids) => ids,
                    Err(e) => {
                        failures.push(e);
                        continue;
                    }
                };
                let prefix = format!("s{index}{}", &colour.as_str()[..1]);
                for (suffix, metric) in [
                    ("req", "RequestCount"),
                    ("err", "HTTPCode_Target_5XX_Count"),
                ] {
                    let id = format!("{prefix}_{suffix}");
                    queries_hourly.push(alb_query(
                        id.clone(),
                        &ids,
                        metric,
                        "Sum",
                        SLO_HOUR as i32,
                    ));
                    queries_fine.push(alb_query(id, &ids, metric, "Sum", SLO_FINE_PERIOD as i32));
                }
            }
        }
        if !failures.is_empty() {
            return Err(failures);
        }
        let monitoring = &self.aws.monitoring;
        let (hourly, fine) = tokio::join!(
            monitoring.metric_data(&queries_hourly, hourly_start, hourly_end),
            monitoring.metric_data(&queries_fine, fine_start, fine_end),
        );
        let (hourly, fine) = match (hourly, fine) {
            (Ok(hourly), Ok(fine)) => (hourly, fine),
            (hourly, fine) => {
                return Err(hourly.err().into_iter().chain(fine.err()).collect());
            }
        };
        let buckets = |series: &[MetricSeries], index: usize| -> Vec<Bucket> {
            let mut by_start: HashMap<i64, Bucket> = HashMap::new();
            for colour in colours() {
                let prefix = format!("s{index}{}", &colour.as_str()[..1]);
                for s in series.iter().filter(|s| s.id.starts_with(&prefix)) {
                    let is_errors = s.id.ends_with("_err");
                    for (at, value) in &s.points {
                        let start = at.unix_timestamp();
                        let bucket = by_start.entry(start).or_insert(Bucket {
                            start,
                            requests: 0.0,
                            errors: 0.0,
                        });
                        match is_errors {
                            true => bucket.errors += value,
                            false => bucket.requests += value,
                        }
                    }
                }
            }
            let mut buckets: Vec<Bucket> = by_start.into_values().collect();
            buckets.sort_by_key(|b| b.start);
            buckets
        };
        Ok((0..self.environment.services.len())
            .map(|index| {
                slo::evaluate(
                    &self.slo,
                    &buckets(&hourly, index),
                    &buckets(&fine, index),
                    fine_end.unix_timestamp(),
                )
            })
            .collect())
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
                .map(|(signal, series)| {
                    let points = series
                        .points
                        .iter()
                        .map(|(at, value)| (*at, super::slo::round_for_chart(*value)))
                        .collect();
                    (*signal, points)
                })
                .collect(),
        }
    }

    /// One colour's judgement as last made, and when its metrics were read: what the release engine gates on.
    pub fn judgement(
        &self,
        service: &str,
        colour: Colour,
    ) -> Option<(app::dto::Judgement, OffsetDateTime)> {
        let reading = self.state.borrow();
        let metrics = &reading.as_ref()?.metrics;
        let observed_at = metrics.observed_at?;
        metrics
            .value
            .as_ref()?
            .iter()
            .find(|(name, _)| name == service)?
            .1
            .iter()
            .find(|c| c.colour == colour)
            .map(|c| (c.judgement.clone(), observed_at))
    }

    /// Each colour's verdict as last judged: what the Overview's badges need, without building the whole health.
    pub fn verdicts(&self, name: &str) -> Vec<(Colour, app::dto::Verdict)> {
        let reading = self.state.borrow();
        reading
            .as_ref()
            .and_then(|r| r.metrics.value.as_ref())
            .and_then(|services| services.iter().find(|(service, _)| service == name))
            .map(|(_, colours)| {
                colours
                    .iter()
                    .map(|c| (c.colour, c.judgement.verdict))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One service's health as last judged, for pages and the API.
    pub fn service(&self, name: &str) -> Option<ServiceHealth> {
        let index = self
            .environment
            .services
            .iter()
            .position(|s| s.name == name)?;
        let service = &self.environment.services[index];
        // Read in place: cloning the whole reading (every service's series) per page view was most of the
        // allocation on the service page under load.
        let guard = self.state.borrow();
        let nothing_yet = HealthReading::default();
        let reading = guard.as_ref().unwrap_or(&nothing_yet);
        let now = OffsetDateTime::now_utc();
        let metrics = reading.metrics.panel(self.interval, now);
        let fleet = colours()
            .into_iter()
            .map(|colour| {
                let no_parts = FleetParts::default();
                let parts = reading.fleet.get(&(index, colour)).unwrap_or(&no_parts);
                // Zones from the last good task list, also when this round's task read failed.
                let targets = with_task_zones(
                    parts.targets.value.clone().unwrap_or_default(),
                    parts.tasks.value.as_deref().unwrap_or_default(),
                );
                ColourFleet {
                    colour,
                    tasks: parts.tasks.value.iter().flatten().map(task_view).collect(),
                    tasks_state: parts.tasks.panel(self.interval, now),
                    targets: targets.iter().map(target_view).collect(),
                    targets_state: parts.targets.panel(self.interval, now),
                }
            })
            .collect();
        // One lock per page view, not one per alarm and colour.
        let dimensions = self.dimensions.lock().expect("lock");
        let watches = |alarm: &AlarmSummary, colour: &crate::config::ColourConfig| {
            alarm_watches(alarm, colour, dimensions.get(&colour.target_group))
        };
        let mut alarms: Vec<AlarmView> = reading
            .alarms
            .value
            .iter()
            .flatten()
            .filter_map(|alarm| {
                let colour = colours()
                    .into_iter()
                    .find(|colour| watches(alarm, service.colour(*colour)));
                // Environment-wide alarms (no service's dimensions) show on every service.
                let other_service = colour.is_none()
                    && self
                        .environment
                        .services
                        .iter()
                        .any(|s| colours().into_iter().any(|c| watches(alarm, s.colour(c))));
                (!other_service).then(|| alarm_view(alarm, colour))
            })
            .collect();
        drop(dimensions);
        // Firing first, then by colour (environment-wide last), then name.
        alarms.sort_by(|a, b| {
            (a.state != "ALARM", a.colour.is_none(), &a.name).cmp(&(
                b.state != "ALARM",
                b.colour.is_none(),
                &b.name,
            ))
        });
        Some(ServiceHealth {
            environment: self.environment.name.clone(),
            service: name.to_string(),
            as_of: metrics.as_of,
            age_secs: metrics.age_secs,
            stale: metrics.stale,
            error: metrics.error,
            colours: reading
                .metrics
                .value
                .iter()
                .flatten()
                .find(|(service, _)| service == name)
                .map(|(_, colours)| colours.clone())
                .unwrap_or_default(),
            rules: self.rules.iter().map(super::gate::view).collect(),
            fleet,
            alarms,
            alarms_state: match &self.environment.alarm_prefix {
                Some(_) => reading.alarms.panel(self.interval, now),
                None => PanelState {
                    error: Some("no alarm_prefix is configured for this environment".into()),
                    ..reading.alarms.panel(self.interval, now)
                },
            },
            slo: reading
                .slo
                .value
                .as_ref()
                .and_then(|all| all.get(index).cloned()),
            slo_state: reading.slo.panel(self.slo.refresh, now),
            // The release history knows these; the server function adds them.
            deploy_markers: Vec::new(),
        })
    }
}

/// Whether an alarm watches this colour's target group (`ids`, once known) or ECS service.
fn alarm_watches(
    alarm: &AlarmSummary,
    colour: &crate::config::ColourConfig,
    ids: Option<&TargetGroupIds>,
) -> bool {
    alarm.dimensions.iter().any(|(name, value)| {
        (name == "TargetGroup" && ids.is_some_and(|ids| value == &ids.target_group_dimension))
            || (name == "ServiceName" && value == &colour.ecs_service)
    })
}

/// A read's result for its panel: the value, or our words for why not (the AWS errors are kept for the log).
fn outcome<T>(
    failures: &mut Vec<AwsError>,
    result: Result<T, Vec<AwsError>>,
) -> Result<T, Option<String>> {
    result.map_err(|errors| {
        let message = summarise_failures(&errors);
        failures.extend(errors);
        message
    })
}

fn whole(at: OffsetDateTime, period: i64) -> OffsetDateTime {
    let secs = at.unix_timestamp();
    OffsetDateTime::from_unix_timestamp(secs - secs.rem_euclid(period)).unwrap_or(at)
}

fn alb_query(
    id: String,
    ids: &TargetGroupIds,
    metric: &str,
    stat: &str,
    period_secs: i32,
) -> MetricQuery {
    MetricQuery {
        id,
        namespace: "AWS/ApplicationELB".into(),
        metric: metric.into(),
        dimensions: vec![
            ("LoadBalancer".into(), ids.load_balancer_dimension.clone()),
            ("TargetGroup".into(), ids.target_group_dimension.clone()),
        ],
        stat: stat.into(),
        period_secs,
    }
}

/// A target's zone comes from the task with its address when ELBv2 gives none (it never does for `ip` targets
/// inside the VPC).
fn with_task_zones(
    targets: Vec<TargetHealthSummary>,
    tasks: &[TaskSummary],
) -> Vec<TargetHealthSummary> {
    targets
        .into_iter()
        .map(|mut target| {
            if target
                .availability_zone
                .as_deref()
                .is_none_or(|z| z == "all")
            {
                target.availability_zone = tasks
                    .iter()
                    .find(|task| task.private_ip.as_deref() == Some(target.target_id.as_str()))
                    .and_then(|task| task.availability_zone.clone());
            }
            target
        })
        .collect()
}

fn task_view(task: &TaskSummary) -> TaskView {
    TaskView {
        id: arn_id(&task.arn).to_string(),
        last_status: task.last_status.clone(),
        desired_status: task.desired_status.clone(),
        health_status: task.health_status.clone(),
        availability_zone: task.availability_zone.clone(),
        private_ip: task.private_ip.clone(),
        task_definition: family_revision_of_arn(&task.task_definition_arn),
        started_at: task.started_at.map(canonical_time),
        stopped_at: task.stopped_at.map(canonical_time),
        stopped_reason: task.stopped_reason.clone(),
    }
}

fn target_view(target: &TargetHealthSummary) -> TargetView {
    TargetView {
        id: target.target_id.clone(),
        port: target.port,
        availability_zone: target.availability_zone.clone(),
        state: target.state.clone(),
        reason: target.reason.clone(),
        description: target.description.clone(),
    }
}

fn alarm_view(alarm: &AlarmSummary, colour: Option<Colour>) -> AlarmView {
    AlarmView {
        name: alarm.name.clone(),
        state: alarm.state.clone(),
        reason: alarm.reason.clone(),
        description: alarm.description.clone(),
        colour,
        updated_at: alarm.updated_at.map(canonical_time),
    }
}
