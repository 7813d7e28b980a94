use crate::dto::{EnvironmentOverview, Overview};
use crate::error::AppError;
use leptos::prelude::*;

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, AppError> {
    crate::auth::require(crate::auth::Permission::ViewConsole, "overview.view").await?;
    crate::services::respond(crate::services::services()?.overview.overview().await)
}

#[server(endpoint = "service")]
pub async fn get_service(
    environment: String,
    service: String,
) -> Result<EnvironmentOverview, AppError> {
    crate::auth::require(crate::auth::Permission::ViewConsole, "service.view").await?;
    crate::services::respond(
        crate::services::services()?
            .overview
            .service(&environment, &service)
            .await,
    )
}

#[server(endpoint = "environment")]
pub async fn get_environment(name: String) -> Result<EnvironmentOverview, AppError> {
    crate::auth::require(crate::auth::Permission::ViewConsole, "environment.view").await?;
    crate::services::respond(
        crate::services::services()?
            .overview
            .environment(&name)
            .await,
    )
}
