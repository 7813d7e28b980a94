//! Service health: one shared collector per environment reads CloudWatch and judges each service colour with the
//! gate (the seed's rollback triggers and alert rules). The Health page, the SLO view and live updates come with
//! the rest of issue 4.

pub mod collector;
pub mod gate;
pub mod slo;

use app::dto::ServiceHealth;
use app::error::AppError;
use app::services::HealthService;
use collector::HealthCollector;
use std::sync::Arc;

pub struct CollectedHealth {
    collectors: Vec<Arc<HealthCollector>>,
}

impl CollectedHealth {
    pub fn new(collectors: Vec<Arc<HealthCollector>>) -> Self {
        CollectedHealth { collectors }
    }
}

#[async_trait::async_trait]
impl HealthService for CollectedHealth {
    async fn service(&self, environment: &str, service: &str) -> Result<ServiceHealth, AppError> {
        let collector = self
            .collectors
            .iter()
            .find(|c| c.environment().name == environment)
            .ok_or_else(|| AppError::not_found(format!("environment {environment:?}")))?;
        collector
            .service(service)
            .ok_or_else(|| AppError::not_found(format!("service {service:?} in {environment}")))
    }
}
