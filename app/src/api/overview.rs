use crate::dto::{EnvironmentOverview, Overview};
use crate::error::AppError;
use leptos::prelude::*;

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, AppError> {
    crate::services::services()?.overview.overview().await
}

#[server(endpoint = "service")]
pub async fn get_service(
    environment: String,
    service: String,
) -> Result<EnvironmentOverview, AppError> {
    crate::services::services()?
        .overview
        .service(&environment, &service)
        .await
}

#[server(endpoint = "environment")]
pub async fn get_environment(name: String) -> Result<EnvironmentOverview, AppError> {
    crate::services::services()?
        .overview
        .environment(&name)
        .await
}
