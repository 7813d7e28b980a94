use crate::dto::ServiceHealth;
use crate::error::AppError;
use leptos::prelude::*;

/// One service's health per colour, as the shared collector last judged it.
#[server(endpoint = "health")]
pub async fn get_service_health(
    environment: String,
    service: String,
) -> Result<ServiceHealth, AppError> {
    crate::auth::require(crate::auth::Permission::ViewConsole, "health.view").await?;
    crate::services::respond(
        crate::services::services()?
            .service_health(&environment, &service)
            .await
            .map(ServiceHealth::charted_only),
    )
}
