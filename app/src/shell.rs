//! The HTML document and the route table.

use crate::api::identity::whoami;
use crate::components::user_menu::{MainNav, Me, UserMenu};
use crate::pages::{
    audit::AuditPage, backups::BackupsPage, deploy::DeployPage, deployments::DeploymentPage,
    deployments::DeploymentsPage, environment::EnvironmentPage, not_found::NotFound,
    overview::OverviewPage, releases::ReleasesPage, service::ServicePage, tokens::TokensPage,
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes, A},
    path, SsrMode,
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
    // Browser tests wait for this attribute: effects run only once the page has hydrated.
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    // Who is signed in, once per page load; the nav, the header and the pages read it to offer only what the
    // user may do.
    let me: Me = Resource::new(|| (), |_| async { whoami().await.ok().flatten() });
    provide_context(me);
    crate::components::live::provide_live_updates();

    view! {
        <Stylesheet id="leptos" href="/pkg/signalbox.css"/>
        <Title formatter=|text: String| {
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
                    <Route path=path!("/") view=OverviewPage ssr=SsrMode::Async/>
                    <Route path=path!("/env/:env") view=EnvironmentPage ssr=SsrMode::Async/>
                    <Route path=path!("/env/:env/service/:service") view=ServicePage ssr=SsrMode::Async/>
                    <Route path=path!("/env/:env/backups") view=BackupsPage ssr=SsrMode::Async/>
                    <Route path=path!("/releases") view=ReleasesPage ssr=SsrMode::Async/>
                    <Route path=path!("/deploy") view=DeployPage ssr=SsrMode::Async/>
                    <Route path=path!("/deployments") view=DeploymentsPage ssr=SsrMode::Async/>
                    <Route path=path!("/deployments/:id") view=DeploymentPage ssr=SsrMode::Async/>
                    <Route path=path!("/audit") view=AuditPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/tokens") view=TokensPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
