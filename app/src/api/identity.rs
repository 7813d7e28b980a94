use crate::auth::Principal;
use crate::error::AppError;
use leptos::prelude::*;

/// Who is signed in, for the header and for offering only what the user may do. Anyone may ask; the answer
/// for a visitor who is not signed in is `None`.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Principal>, AppError> {
    Ok(crate::auth::caller()?.principal)
}
