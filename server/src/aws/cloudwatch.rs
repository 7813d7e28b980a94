//! CloudWatch: alarm states and metric time series (many metrics per GetMetricData call).

use super::error::{classify, AwsError};
use super::to_offset;
use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSummary {
    pub name: String,
    /// OK, ALARM or INSUFFICIENT_DATA
    pub state: String,
    pub reason: Option<String>,
    pub namespace: Option<String>,
    pub metric: Option<String>,
    pub threshold: Option<f64>,
    pub comparison: Option<String>,
    pub updated_at: Option<OffsetDateTime>,
    /// Every dimension the alarm watches, its metric's or its metric-math inputs', to tie it to a service.
    pub dimensions: Vec<(String, String)>,
    pub description: Option<String>,
}

/// One series to fetch: `stat` is a CloudWatch statistic (Sum, Average, Maximum, p95, p99, …).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// Unique within one call; lower-case letter first (CloudWatch's rule).
    pub id: String,
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
    pub period_secs: i32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub id: String,
    /// Oldest first.
    pub points: Vec<(OffsetDateTime, f64)>,
    /// False when CloudWatch says more data exists than it returned, or the query failed.
    pub complete: bool,
}

#[async_trait::async_trait]
pub trait Monitoring: Send + Sync + 'static {
    async fn alarms(&self, name_prefix: &str) -> Result<Vec<AlarmSummary>, AwsError>;
    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<Vec<MetricSeries>, AwsError>;
}

pub struct CloudWatchMonitoring {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchMonitoring {
    pub fn new(sdk: &SdkConfig) -> Self {
        CloudWatchMonitoring {
            client: aws_sdk_cloudwatch::Client::new(sdk),
        }
    }
}

/// GetMetricData takes at most 500 queries a call.
const METRIC_QUERIES_PER_CALL: usize = 500;

fn to_smithy(value: OffsetDateTime) -> DateTime {
    DateTime::from_secs(value.unix_timestamp())
}

fn build_query(query: &MetricQuery) -> MetricDataQuery {
    let dimensions = query
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    let metric = Metric::builder()
        .namespace(&query.namespace)
        .metric_name(&query.metric)
        .set_dimensions(Some(dimensions))
        .build();
    let stat = MetricStat::builder()
        .metric(metric)
        .period(query.period_secs)
        .stat(&query.stat)
        .build();
    MetricDataQuery::builder()
        .id(&query.id)
        .metric_stat(stat)
        .return_data(true)
        .build()
}

#[async_trait::async_trait]
impl Monitoring for CloudWatchMonitoring {
    #[tracing::instrument(skip_all, fields(name_prefix))]
    async fn alarms(&self, name_prefix: &str) -> Result<Vec<AlarmSummary>, AwsError> {
        let mut alarms = Vec::new();
        let mut token = None;
        loop {
            let output = self
                .client
                .describe_alarms()
                .alarm_name_prefix(name_prefix)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| classify("CloudWatch DescribeAlarms", e))?;
            alarms.extend(output.metric_alarms().iter().map(|a| {
                AlarmSummary {
                    name: a.alarm_name().unwrap_or_default().to_string(),
                    state: a
                        .state_value()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "INSUFFICIENT_DATA".into()),
                    reason: a.state_reason().map(str::to_string),
                    namespace: a.namespace().map(str::to_string),
                    metric: a.metric_name().map(str::to_string),
                    threshold: a.threshold(),
                    comparison: a.comparison_operator().map(|c| c.as_str().to_string()),
                    updated_at: a.state_updated_timestamp().and_then(to_offset),
                    dimensions: a
                        .dimensions()
                        .iter()
                        .chain(
                            a.metrics()
                                .iter()
                                .filter_map(|m| m.metric_stat())
                                .filter_map(|stat| stat.metric())
                                .flat_map(|metric| metric.dimensions()),
                        )
                        .filter_map(|d| Some((d.name()?.to_string(), d.value()?.to_string())))
                        .collect(),
                    description: a.alarm_description().map(str::to_string),
                }
            }));
            match output.next_token() {
                Some(next) => token = Some(next.to_string()),
                None => break,
            }
        }
        Ok(alarms)
    }

    #[tracing::instrument(skip_all, fields(queries = queries.len()))]
    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: OffsetDateTime,
        end: OffsetDateTime,
    ) -> Result<Vec<MetricSeries>, AwsError> {
        let mut series: Vec<MetricSeries> = Vec::with_capacity(queries.len());
        for batch in queries.chunks(METRIC_QUERIES_PER_CALL) {
            let built: Vec<MetricDataQuery> = batch.iter().map(build_query).collect();
            let mut token = None;
            loop {
                let output = self
                    .client
                    .get_metric_data()
                    .set_metric_data_queries(Some(built.clone()))
                    .start_time(to_smithy(start))
                    .end_time(to_smithy(end))
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| classify("CloudWatch GetMetricData", e))?;
                for result in output.metric_data_results() {
                    let id = result.id().unwrap_or_default().to_string();
                    let complete = result
                        .status_code()
                        .map(|s| s.as_str() == "Complete")
                        .unwrap_or(true);
                    let points = result
                        .timestamps()
                        .iter()
                        .zip(result.values())
                        .filter_map(|(t, v)| to_offset(t).map(|t| (t, *v)));
                    match series.iter_mut().find(|s| s.id == id) {
                        Some(existing) => {
                            existing.points.extend(points);
                            existing.complete &= complete;
                        }
                        None => series.push(MetricSeries {
                            id,
                            points: points.collect(),
                            complete,
                        }),
                    }
                }
                match output.next_token() {
                    Some(next) => token = Some(next.to_string()),
                    None => break,
                }
            }
        }
        for s in &mut series {
            s.points.sort_by_key(|(t, _)| *t);
        }
        Ok(series)
    }
}
