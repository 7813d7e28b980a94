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
                #[cfg(feature = "ssr")]
                $crate::pages::preload_route_chunks(stringify!($route));
                leptos::prelude::IntoAny::into_any($page())
            }
        }
    };
}

/// Takes the lazily loaded views' requests for preload links away from leptos_axum, which reads the split
/// manifest and the head outside the request's reactive owner: whether it found them depended on what ran last on
/// the thread (seen: first visits without preloads, and thousands of "leptos_meta component without
/// `ServerMetaContext`" lines on stderr under load). [`preload_route_chunks`] writes the links instead. Both
/// types are leptos's own (hidden) ones, pinned by Cargo.lock.
#[cfg(feature = "ssr")]
pub fn claim_lazy_preloads() {
    leptos::prelude::provide_context(leptos::PrefetchLazyFn::default());
}

/// Puts the route's chunks in the head as preload links, so the browser fetches them beside the entry module
/// rather than after it.
#[cfg(feature = "ssr")]
pub fn preload_route_chunks(route: &str) {
    use leptos::prelude::*;
    use leptos_meta::Link;

    let Some(manifest) = use_context::<leptos::WasmSplitManifest>() else {
        return;
    };
    // `#[lazy_route]` names the split after the type: `OverviewRoute` → `__overview_route_view_<hash>`.
    let mut prefix = String::from("__");
    for (i, c) in route.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            prefix.push('_');
        }
        prefix.push(c.to_ascii_lowercase());
    }
    prefix.push_str("_view_");
    manifest.0.with_value(|(pkg, splits, loader)| {
        let Some((_, chunks)) = splits.iter().find(|(split, _)| split.starts_with(&prefix)) else {
            return;
        };
        // Rendering a head component registers it with the page's head rather than returning HTML.
        for chunk in chunks {
            let href = format!("{pkg}/{chunk}.wasm");
            let _ = view! {
                <Link rel="preload" href=href as_="fetch" type_="application/wasm" crossorigin="anonymous"/>
            }
            .to_html();
        }
        let _ = view! { <Link rel="modulepreload" href=format!("{pkg}/{loader}")/> }.to_html();
    });
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
