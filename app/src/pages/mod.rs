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

/// The preload links of the page being rendered: the route's view fills it, the server's response layer puts it
/// at the end of the head (the head is written before the lazily loaded view runs, so it cannot go there itself).
#[cfg(feature = "ssr")]
#[derive(Clone, Default)]
pub struct RoutePreloads(std::sync::Arc<std::sync::OnceLock<std::sync::Arc<str>>>);

#[cfg(feature = "ssr")]
impl RoutePreloads {
    /// The links of the route that rendered, if a lazily loaded route did.
    pub fn links(&self) -> Option<std::sync::Arc<str>> {
        self.0.get().cloned()
    }
}

/// Hands the route's preload links to the response, so the browser fetches its chunks beside the entry module
/// rather than after it. The links are built once per route: the split manifest does not change while the
/// process runs, and building ~100 head components per request cost about a tenth of a page's CPU.
#[cfg(feature = "ssr")]
pub fn preload_route_chunks(route: &'static str) {
    use leptos::prelude::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};

    static BY_ROUTE: OnceLock<Mutex<HashMap<&'static str, Arc<str>>>> = OnceLock::new();

    let (Some(slot), Some(manifest)) = (
        use_context::<RoutePreloads>(),
        use_context::<leptos::WasmSplitManifest>(),
    ) else {
        return;
    };
    let links = BY_ROUTE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(route)
        .or_insert_with(|| {
            manifest
                .0
                .with_value(|(pkg, splits, loader)| preload_links(route, pkg, splits, loader))
        })
        .clone();
    let _ = slot.0.set(links);
}

/// `<link>`s preloading `route`'s chunks and the chunk loader, as HTML.
#[cfg(feature = "ssr")]
fn preload_links(
    route: &str,
    pkg: &str,
    splits: &std::collections::HashMap<String, Vec<String>>,
    loader: &str,
) -> std::sync::Arc<str> {
    use std::fmt::Write;

    // `#[lazy_route]` names the split after the type: `OverviewRoute` → `__overview_route_view_<hash>`.
    let mut prefix = String::from("__");
    for (i, c) in route.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            prefix.push('_');
        }
        prefix.push(c.to_ascii_lowercase());
    }
    prefix.push_str("_view_");
    let Some((_, chunks)) = splits.iter().find(|(split, _)| split.starts_with(&prefix)) else {
        return std::sync::Arc::from("");
    };
    let attribute = |value: &str| html_escape::encode_double_quoted_attribute(value).into_owned();
    let mut html = String::new();
    for chunk in chunks {
        let _ = write!(
            html,
            r#"<link rel="preload" href="{}" as="fetch" type="application/wasm" crossorigin="anonymous">"#,
            attribute(&format!("{pkg}/{chunk}.wasm"))
        );
    }
    let _ = write!(
        html,
        r#"<link rel="modulepreload" href="{}">"#,
        attribute(&format!("{pkg}/{loader}"))
    );
    html.into()
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
