//! A view built when it is rendered, not when it is created.
//!
//! On the server a `<Suspense>`/`<Transition>` walks its children twice before rendering them ("dry resolve", to
//! register the resources they read), and each walk calls the children's closure again, which builds every
//! component below it. A page's panels were built three times per request for one rendering (the Health page:
//! counted with callgrind, 3 `HealthPanel` calls per request). Wrapping the part of the view that reads no
//! resources itself in [`deferred`] makes those walks skip it: it is built once, to render or to hydrate. It is also
//! rendered as built, without being resolved into futures first (see `resolve`), and written the way the server
//! writes a page outside a Suspense (see `to_html_async_with_buf`).

use leptos::attr::{any_attribute::AnyAttribute, Attribute};
use leptos::prelude::*;
use leptos::tachys::{
    hydration::Cursor,
    ssr::StreamBuilder,
    view::{add_attr::AddAnyAttr, Position, PositionState, Render, RenderHtml},
};
use std::future::Future;

/// Builds a view only when it is rendered or hydrated. `build` must read no resources (it runs after Suspense has
/// looked for them): take the data from the resource in the closure around it and move it in.
pub struct Deferred(Box<dyn FnOnce() -> AnyView + Send>);

/// `build`'s view, built only when it is rendered or hydrated: what a page returns for a loaded resource.
pub fn deferred<V: IntoView + 'static>(build: impl FnOnce() -> V + Send + 'static) -> AnyView {
    Deferred(Box::new(move || build().into_any())).into_any()
}

impl Deferred {
    fn build_view(self) -> AnyView {
        (self.0)()
    }
}

impl Render for Deferred {
    type State = <AnyView as Render>::State;

    fn build(self) -> Self::State {
        self.build_view().build()
    }

    fn rebuild(self, state: &mut Self::State) {
        self.build_view().rebuild(state)
    }
}

impl AddAnyAttr for Deferred {
    type Output<SomeNewAttr: Attribute> = <AnyView as AddAnyAttr>::Output<SomeNewAttr>;

    fn add_any_attr<NewAttr: Attribute>(self, attr: NewAttr) -> Self::Output<NewAttr>
    where
        Self::Output<NewAttr>: RenderHtml,
    {
        self.build_view().add_any_attr(attr)
    }
}

impl RenderHtml for Deferred {
    type AsyncOutput = Self;
    type Owned = Self;
    const MIN_LENGTH: usize = 0;

    /// The point of the type: nothing to walk, since the view reads no resources.
    fn dry_resolve(&mut self) {}

    /// The view is built here, in the Suspense's owner, but not resolved: it reads no resources, so there is
    /// nothing to wait for, and resolving it would rebuild the whole tree as nested futures first (a quarter of the
    /// Health page's instructions went to moving them). It goes back still deferred, so that it is written by
    /// `to_html_async_with_buf` below, as the server writes every part of a page outside a Suspense.
    fn resolve(self) -> impl Future<Output = Self::AsyncOutput> + Send {
        let view = self.build_view();
        async move { Deferred(Box::new(move || view)) }
    }

    fn to_html_with_buf(
        self,
        buf: &mut String,
        position: &mut Position,
        escape: bool,
        mark_branches: bool,
        extra_attrs: Vec<AnyAttribute>,
    ) {
        self.build_view()
            .to_html_with_buf(buf, position, escape, mark_branches, extra_attrs)
    }

    /// Written straight into the stream's buffer, as if outside a Suspense: with nothing to wait for, the
    /// streaming path would only give every element a string of its own to grow and then copy over.
    fn to_html_async_with_buf<const OUT_OF_ORDER: bool>(
        self,
        buf: &mut StreamBuilder,
        position: &mut Position,
        escape: bool,
        mark_branches: bool,
        extra_attrs: Vec<AnyAttribute>,
    ) where
        Self: Sized,
    {
        let view = self.build_view();
        buf.with_buf(|buf| view.to_html_with_buf(buf, position, escape, mark_branches, extra_attrs))
    }

    fn hydrate<const FROM_SERVER: bool>(
        self,
        cursor: &Cursor,
        position: &PositionState,
    ) -> Self::State {
        self.build_view().hydrate::<FROM_SERVER>(cursor, position)
    }

    fn hydrate_async(
        self,
        cursor: &Cursor,
        position: &PositionState,
    ) -> impl Future<Output = Self::State> {
        self.build_view().hydrate_async(cursor, position)
    }

    fn into_owned(self) -> Self::Owned {
        self
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::deferred;
    use futures::{executor::block_on, StreamExt};
    use leptos::prelude::*;

    fn page() -> impl IntoView {
        view! {
            <main class="page">
                <h1>"Health"</h1>
                {deferred(|| view! {
                    <section class="panel" data-panel="a"><p>"requests " {42}</p></section>
                    <p title="a \"quoted\" <title>">{"text & more".to_string()}</p>
                })}
                <footer>"end"</footer>
            </main>
        }
    }

    fn streamed(view: impl RenderHtml) -> String {
        block_on(view.to_html_stream_in_order().collect::<Vec<_>>()).concat()
    }

    /// A Suspense resolves its children, then streams them; a deferred view must come out of both steps as the
    /// server writes it outside a Suspense, or hydration would not match.
    #[test]
    fn streamed_and_resolved_markup_is_the_written_markup() {
        let owner = Owner::new();
        owner.set();
        let written = page().into_view().to_html();
        assert!(
            written.contains(r#"data-panel="a""#) && written.contains("text &amp; more"),
            "{written}"
        );
        // The deferred part is written in its place, before what follows it.
        let deferred_text = written.find("text &amp; more").unwrap();
        let footer = written.find("<footer>end</footer>").unwrap();
        assert!(
            deferred_text < footer && written.ends_with("</main>"),
            "{written}"
        );
        assert_eq!(streamed(page().into_view()), written);
        let resolved = block_on(page().into_view().resolve());
        assert_eq!(streamed(resolved), written);
    }
}
