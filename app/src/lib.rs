//! What the Signalbox console shows and offers. Pages and components render on the server and hydrate in the
//! browser; server functions are thin (who is calling, one call on a service trait, a DTO back). The policy and
//! the work live in the `server` crate behind the traits in [`services`].
// The service page nests many panels; hydration types grow deep.
#![recursion_limit = "256"]

pub mod api;
pub mod auth;
pub mod components;
pub mod dto;
pub mod error;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod services;
pub mod shell;
pub mod validate;

pub use shell::{shell, App};

/// The browser entry point: attaches the reactive system to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Routes are lazily loaded chunks, so hydration is asynchronous: it waits for the current route's chunk.
    wasm_bindgen_futures::spawn_local(async {
        let Some(body) = leptos::prelude::document().body() else {
            return;
        };
        leptos::mount::hydrate_from_async(body.clone(), App)
            .await
            .forget();
        // Browser tests wait for this attribute: the whole page, route included, now answers to input.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
