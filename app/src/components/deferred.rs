//! A view built when it is rendered, not when it is created.
//!
//! On the server a `<Suspense>`/`<Transition>` walks its children twice before rendering them ("dry resolve", to
//! register the resources they read), and each walk calls the children's closure again, which builds every
//! component below it. A page's panels were built three times per request for one rendering (the Health page:
//! counted with callgrind, 3 `HealthPanel` calls per request). Wrapping the part of the view that reads no
//! resources itself in [`deferred`] makes those walks skip it: it is built once, to render or to hydrate. It is also
//! rendered as built, without being resolved into futures first (see `resolve`).

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
    type AsyncOutput = AnyView;
    type Owned = Self;
    const MIN_LENGTH: usize = 0;

    /// The point of the type: nothing to walk, since the view reads no resources.
    fn dry_resolve(&mut self) {}

    /// Built, not resolved: the view reads no resources, so there is nothing to wait for, and resolving it would
    /// rebuild the whole tree as nested futures first (a quarter of the Health page's instructions went to moving
    /// them). Rendering an unresolved view is what the server does for every part of a page outside a Suspense.
    fn resolve(self) -> impl Future<Output = Self::AsyncOutput> + Send {
        let view = self.build_view();
        async move { view }
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
        self.build_view().to_html_async_with_buf::<OUT_OF_ORDER>(
            buf,
            position,
            escape,
            mark_branches,
            extra_attrs,
        )
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
