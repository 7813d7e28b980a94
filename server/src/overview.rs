//! The Overview use case: answers from the collectors' caches, never from AWS directly.

use crate::topology::{Reading, TopologyCollector};
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
}

impl CollectedOverview {
    /// `collectors`: (region, collector) in configuration order.
    pub fn new(collectors: Vec<(String, Arc<TopologyCollector>)>) -> Self {
        CollectedOverview { collectors }
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
                stale,
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
        let environments = futures::future::join_all(
            self.collectors
                .iter()
                .map(|(region, collector)| self.describe(region, collector)),
        )
        .await;
        Ok(Overview { environments })
    }

    #[tracing::instrument(skip_all, fields(name))]
    async fn environment(&self, name: &str) -> Result<EnvironmentOverview, AppError> {
        let (region, collector) = self
            .collectors
            .iter()
            .find(|(_, c)| c.environment().name == name)
            .ok_or_else(|| AppError::not_found(format!("environment {name:?}")))?;
        Ok(self.describe(region, collector).await)
    }
}
