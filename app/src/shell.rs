//! The HTML document and the route table.

use crate::api::identity::whoami;
use crate::api::load::load;
use crate::components::user_menu::{MainNav, Me, UserMenu};
use crate::pages::{
    not_found::NotFound, AuditRoute, BackupsRoute, DeployRoute, DeploymentRoute, DeploymentsRoute,
    EnvironmentRoute, OverviewRoute, ReleasesRoute, ServiceRoute, TokensRoute,
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    path, Lazy, SsrMode,
};

/// The whole document, rendered on the server around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    #[cfg(feature = "ssr")]
    crate::pages::claim_lazy_preloads();

    // Who is signed in, once per page load; the nav, the header and the pages read it to offer only what the
    // user may do.
    let me: Me = load(|| (), |_| async { whoami().await.ok().flatten() });
    provide_context(me);
    crate::components::live::provide_live_updates();

    view! {
        <Stylesheet id="leptos" href="/pkg/signalbox.css"/>
        // The empty text is the title until the route's chunk has loaded and its page pushes its own: without
        // it the title would be blank meanwhile.
        <Title text="" formatter=|text: String| {
            if text.is_empty() { "Signalbox".to_string() } else { format!("{text} · Signalbox") }
        }/>
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">
                    <span class="brand-mark" aria-hidden="true"></span>
                    "Signalbox"
                </A>
                <MainNav me/>
                <UserMenu me/>
            </header>
            <main id="main">
                <Routes fallback=NotFound>
                    <Route path=path!("/") view={Lazy::<OverviewRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/env/:env") view={Lazy::<EnvironmentRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/env/:env/service/:service") view={Lazy::<ServiceRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/env/:env/backups") view={Lazy::<BackupsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/releases") view={Lazy::<ReleasesRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/deploy") view={Lazy::<DeployRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/deployments") view={Lazy::<DeploymentsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/deployments/:id") view={Lazy::<DeploymentRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/admin/tokens") view={Lazy::<TokensRoute>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
