use crate::api::load::Loaded;
use crate::auth::{Permission, Principal};
use leptos::prelude::*;
use leptos_router::components::A;

/// Who is signed in, as the header and the pages need it. `None` inside: not signed in (or still loading).
pub type Me = Loaded<Option<Principal>>;

pub fn use_me() -> Option<Me> {
    use_context::<Me>()
}

/// True when the signed-in user may do `permission`; false while unknown. For showing controls only: the
/// server checks again.
pub fn may(me: Me, permission: Permission) -> bool {
    me.get().flatten().is_some_and(|p| p.may(permission))
}

/// The navigation links this user may follow.
#[component]
pub fn MainNav(me: Me) -> impl IntoView {
    view! {
        <nav aria-label="Main">
            <A href="/">"Overview"</A>
            <A href="/deployments">"Deployments"</A>
            <A href="/releases">"Releases"</A>
            <Transition fallback=|| ()>
                {move || may(me, Permission::ViewAudit).then(|| view! { <A href="/audit">"Audit"</A> })}
                {move || may(me, Permission::ManageTokens).then(|| view! { <A href="/admin/tokens">"API tokens"</A> })}
            </Transition>
        </nav>
    }
}

/// The signed-in user's name and roles, and sign-out (a POST: a link could be triggered from another site).
#[component]
pub fn UserMenu(me: Me) -> impl IntoView {
    view! {
        <Transition fallback=|| ()>
            {move || me.get().flatten().map(|principal| {
                let roles = principal.authority().replace(',', ", ");
                view! {
                    <div class="user-menu">
                        <span class="user-name" data-user=principal.subject.clone()>{principal.name.clone()}</span>
                        <span class="user-roles" data-roles=principal.authority()>{roles}</span>
                        <form method="post" action="/auth/logout">
                            <button type="submit" class="link-button" id="sign-out">"Sign out"</button>
                        </form>
                    </div>
                }
            })}
        </Transition>
    }
}
