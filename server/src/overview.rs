//! The Overview use case: answers from the collectors' caches, never from AWS directly.

use crate::health::collector::HealthCollector;
use crate::topology::{Reading, TopologyCollector};
use app::dto::Colour;
use app::dto::{EnvironmentOverview, Overview};
use app::error::AppError;
use app::services::OverviewService;
use std::sync::Arc;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// How long a request waits for an environment's first reading after start-up before answering without it.
const FIRST_READING_WAIT: Duration = Duration::from_secs(5);

pub struct CollectedOverview {
    collectors: Vec<(String, Arc<TopologyCollector>)>,
    health: Vec<Arc<HealthCollector>>,
}

impl CollectedOverview {
    /// `collectors`: (region, collector) in configuration order; `health`: the health collectors, whose verdicts
    /// become each colour's badge.
    pub fn new(
        collectors: Vec<(String, Arc<TopologyCollector>)>,
        health: Vec<Arc<HealthCollector>>,
    ) -> Self {
        CollectedOverview { collectors, health }
    }

    fn add_health(&self, overview: &mut EnvironmentOverview) {
        let Some(collector) = self
            .health
            .iter()
            .find(|c| c.environment().name == overview.name)
        else {
            return;
        };
        for service in &mut overview.services {
            for (colour, verdict) in collector.verdicts(&service.name) {
                let target = match colour {
                    Colour::Blue => &mut service.blue,
                    Colour::Green => &mut service.green,
                };
                target.health = Some(verdict);
            }
        }
    }

    async fn describe(&self, region: &str, collector: &TopologyCollector) -> EnvironmentOverview {
        let environment = collector.environment();
        let mut receiver = collector.subscribe();
        let reading = match tokio::time::timeout(
            FIRST_READING_WAIT,
            receiver.wait_for(Option::is_some),
        )
        .await
        {
            Ok(Ok(reading)) => reading.clone(),
            _ => None,
        };
        let now = OffsetDateTime::now_utc();
        match reading {
            Some(Reading {
                services,
                observed_at,
                error,
                stale,
            }) => EnvironmentOverview {
                name: environment.name.clone(),
                region: region.to_string(),
                as_of: observed_at.and_then(|t| t.format(&Rfc3339).ok()),
                age_secs: observed_at.map(|t| (now - t).whole_seconds().max(0) as u64),
                stale: stale || observed_at.is_some_and(|at| collector.is_overdue(at, now)),
                error,
                services,
            },
            None => EnvironmentOverview {
                name: environment.name.clone(),
                region: region.to_string(),
                as_of: None,
                age_secs: None,
                stale: false,
                error: Some(
                    "still reading AWS for the first time; refresh in a moment".to_string(),
                ),
                services: Vec::new(),
            },
        }
    }
}

#[async_trait::async_trait]
impl OverviewService for CollectedOverview {
    #[tracing::instrument(skip_all)]
    async fn overview(&self) -> Result<Overview, AppError> {
        let mut environments = futures::future::join_all(
            self.collectors
                .iter()
                .map(|(region, collector)| self.describe(region, collector)),
        )
        .await;
        environments.iter_mut().for_each(|e| self.add_health(e));
        Ok(Overview { environments })
    }

    #[tracing::instrument(skip_all, fields(name))]
    async fn environment(&self, name: &str) -> Result<EnvironmentOverview, AppError> {
        let (region, collector) = self
            .collectors
            .iter()
            .find(|(_, c)| c.environment().name == name)
            .ok_or_else(|| AppError::not_found(format!("environment {name:?}")))?;
        let mut overview = self.describe(region, collector).await;
        self.add_health(&mut overview);
        Ok(overview)
    }
}
