//! One module a screen, and each screen as a lazily loaded route.
pub mod audit;
pub mod backups;
pub mod deploy;
pub mod deployments;
pub mod environment;
pub mod not_found;
pub mod overview;
pub mod releases;
pub mod service;
pub mod tokens;

/// Declares `$route`, the route that shows `$page`. In the browser its code and everything only it uses (views,
/// the deserialisers of its DTOs) is a wasm chunk fetched when the route is first shown, so the first download
/// holds only the shell. `cargo leptos build --split` cuts the chunks; without it the wasm cannot load.
macro_rules! lazy_page {
    ($route:ident, $page:path) => {
        pub struct $route;

        #[leptos_router::lazy_route]
        impl leptos_router::LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> leptos::prelude::AnyView {
                leptos::prelude::IntoAny::into_any($page())
            }
        }
    };
}

lazy_page!(OverviewRoute, overview::OverviewPage);
lazy_page!(EnvironmentRoute, environment::EnvironmentPage);
lazy_page!(ServiceRoute, service::ServicePage);
lazy_page!(BackupsRoute, backups::BackupsPage);
lazy_page!(ReleasesRoute, releases::ReleasesPage);
lazy_page!(DeployRoute, deploy::DeployPage);
lazy_page!(DeploymentsRoute, deployments::DeploymentsPage);
lazy_page!(DeploymentRoute, deployments::DeploymentPage);
lazy_page!(AuditRoute, audit::AuditPage);
lazy_page!(TokensRoute, tokens::TokensPage);
