use crate::api::load::load;
use crate::api::tokens::{list_tokens, CreateToken, RevokeToken, MAX_TOKEN_DAYS};
use crate::auth::Scope;
use crate::components::error_panel::ErrorPanel;
use crate::dto::ApiTokenView;
use leptos::prelude::*;
use leptos_meta::Title;

/// API tokens for CI (admins): create (the secret is shown once), see scopes, expiry and last use, revoke.
#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateToken>::new();
    let revoke = ServerAction::<RevokeToken>::new();
    let tokens = load(
        move || (create.version().get(), revoke.version().get()),
        |_| list_tokens(),
    );

    view! {
        <Title text="API tokens"/>
        <h1>"API tokens"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || tokens.get().map(|result| match result {
                Ok(list) => view! {
                    <section class="panel">
                        <h2>"New token"</h2>
                        <p class="muted small">"For CI: send it as " <code>"Authorization: Bearer <token>"</code> " to " <code>"/api/v1"</code> ". It is shown once; only its hash is kept."</p>
                        <ActionForm action=create attr:class="token-form">
                            <label>"Name " <input name="name" id="token-name" required maxlength="80" placeholder="e.g. github-actions-deploy"/></label>
                            <fieldset>
                                <legend>"Scopes"</legend>
                                {Scope::ALL.into_iter().enumerate().map(|(i, scope)| view! {
                                    <label class="inline">
                                        <input type="checkbox" name=format!("scopes[{i}]") value=scope.as_str()/>
                                        <code>{scope.as_str()}</code>
                                    </label>
                                }).collect_view()}
                            </fieldset>
                            <label>"Valid for (days) " <input name="valid_days" id="token-days" type="number" min="1" max=MAX_TOKEN_DAYS value="90" required/></label>
                            <button class="button" type="submit" id="create-token">"Create token"</button>
                        </ActionForm>
                        {move || create.value().get().map(|result| match result {
                            Ok(created) => view! {
                                <div class="secret-once" role="status">
                                    <p><strong>"Copy this token now; it will not be shown again."</strong></p>
                                    <code id="new-token-secret">{created.secret}</code>
                                </div>
                            }.into_any(),
                            Err(error) => view! { <ErrorPanel error/> }.into_any(),
                        })}
                    </section>
                    <TokenList tokens=list revoke/>
                }.into_any(),
                Err(error) => view! { <ErrorPanel error/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn TokenList(tokens: Vec<ApiTokenView>, revoke: ServerAction<RevokeToken>) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p class="panel muted">"No tokens yet."</p> }.into_any();
    }
    view! {
        <div class="panel table-wrap">
            <table class="tokens-table">
                <thead><tr>
                    <th>"Name"</th><th>"Scopes"</th><th>"Created"</th><th>"Expires"</th><th>"Last used"</th><th>"Status"</th><th></th>
                </tr></thead>
                <tbody>
                    {tokens.into_iter().map(|token| {
                        let day = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
                        let status = match &token.revoked_at {
                            Some(at) => format!("revoked {} by {}", day(at), token.revoked_by.clone().unwrap_or_default()),
                            None => "active".to_string(),
                        };
                        let active = token.revoked_at.is_none();
                        let id = token.id.clone();
                        view! {
                            <tr data-token=token.id.clone()>
                                <td>{token.name.clone()}<div class="muted small"><code>{token.id.clone()}</code></div></td>
                                <td>{token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")}</td>
                                <td>{day(&token.created_at)}<div class="muted small">{token.created_by.clone()}</div></td>
                                <td>{day(&token.expires_at)}</td>
                                <td>{token.last_used_at.as_deref().map(day).unwrap_or_else(|| "never".into())}</td>
                                <td class="token-status">{status}</td>
                                <td>{active.then(|| view! {
                                    <ActionForm action=revoke>
                                        <input type="hidden" name="id" value=id.clone()/>
                                        <button class="button danger" type="submit">"Revoke"</button>
                                    </ActionForm>
                                })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }.into_any()
}
