//! Live updates: the browser listens to `/live` (server-sent events, one per new collector reading) and bumps a
//! version number; resources that read it refetch from the server's caches. No polling, no reload.

use leptos::prelude::*;

/// Increases each time the server says a reading changed.
#[derive(Clone, Copy)]
pub struct LiveVersion(pub RwSignal<u64>);

/// The current version, to put in a resource's source; 0 on the server.
pub fn live_version() -> u64 {
    use_context::<LiveVersion>().map(|v| v.0.get()).unwrap_or(0)
}

/// Provides the version and, in the browser, opens the event stream once.
pub fn provide_live_updates() {
    let version = LiveVersion(RwSignal::new(0));
    provide_context(version);
    #[cfg(feature = "hydrate")]
    Effect::new(move |opened: Option<bool>| {
        if opened.is_some() {
            return true;
        }
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsCast;
        if let Ok(source) = web_sys::EventSource::new("/live") {
            let on_update = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |_| {
                version.0.update(|v| *v += 1);
            });
            let _ = source
                .add_event_listener_with_callback("update", on_update.as_ref().unchecked_ref());
            // Both live as long as the page: the browser reconnects by itself after a drop.
            on_update.forget();
            std::mem::forget(source);
        }
        true
    });
}
