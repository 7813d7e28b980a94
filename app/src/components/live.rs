//! Live updates: the browser listens to `/live` (server-sent events, one per new collector reading) and bumps a
//! version number; resources that read it refetch from the server's caches. No polling, no reload.

use leptos::prelude::*;

/// Increases each time the server says a reading changed: topology and health readings (what most pages show),
/// and backup readings apart, so a page is not rebuilt under someone's hands for data it does not show.
#[derive(Clone, Copy)]
pub struct LiveVersion {
    pub fleet: RwSignal<u64>,
    pub backups: RwSignal<u64>,
    pub deployments: RwSignal<u64>,
}

/// The topology and health version, to put in a resource's source; 0 on the server.
pub fn live_version() -> u64 {
    use_context::<LiveVersion>()
        .map(|v| v.fleet.get())
        .unwrap_or(0)
}

/// The backups version, for the Backups page; 0 on the server.
pub fn backups_version() -> u64 {
    use_context::<LiveVersion>()
        .map(|v| v.backups.get())
        .unwrap_or(0)
}

/// The deployments version (this replica's engine wrote a change); 0 on the server.
pub fn deployments_version() -> u64 {
    use_context::<LiveVersion>()
        .map(|v| v.deployments.get())
        .unwrap_or(0)
}

/// Provides the versions and, in the browser, opens the event stream once.
pub fn provide_live_updates() {
    let version = LiveVersion {
        fleet: RwSignal::new(0),
        backups: RwSignal::new(0),
        deployments: RwSignal::new(0),
    };
    provide_context(version);
    #[cfg(feature = "hydrate")]
    Effect::new(move |opened: Option<bool>| {
        if opened.is_some() {
            return true;
        }
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        if let Ok(source) = web_sys::EventSource::new("/live") {
            // The event's data is {"environment": …, "kind": "topology" | "health" | "backups"}.
            let on_update = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
                move |event: web_sys::MessageEvent| {
                    let data = event.data().as_string().unwrap_or_default();
                    if data.contains(r#""kind":"backups""#) {
                        version.backups.update(|v| *v += 1);
                    } else if data.contains(r#""kind":"deployments""#) {
                        version.deployments.update(|v| *v += 1);
                    } else {
                        version.fleet.update(|v| *v += 1);
                    }
                },
            );
            let _ = source
                .add_event_listener_with_callback("update", on_update.as_ref().unchecked_ref());
            // Both live as long as the page: the browser reconnects by itself after a drop.
            on_update.forget();
            std::mem::forget(source);
        }
        true
    });
}
