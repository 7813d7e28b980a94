//! The one error type the console's server functions return. Its variants are what the UI can act on; the text
//! never carries SQL or AWS messages — those are logged on the server where the error is converted.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("sign-in required")]
    Unauthorized,
    #[error("you may not {action}")]
    Forbidden { action: String },
    #[error("{what} was not found")]
    NotFound { what: String },
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("{message}")]
    Conflict { message: String },
    /// A system Signalbox depends on (AWS, the identity provider) failed; `message` is our own wording.
    #[error("{service}: {message}")]
    Upstream { service: String, message: String },
    /// Something broke on our side; `reference` points at the log line with the detail.
    #[error("internal error (reference {reference})")]
    Internal { reference: String },
}

impl AppError {
    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound { what: what.into() }
    }

    /// The HTTP status that fits this error, for pages rendered on the server and for the REST API.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Unauthorized => 401,
            AppError::Forbidden { .. } => 403,
            AppError::NotFound { .. } => 404,
            AppError::Validation { .. } => 422,
            AppError::Conflict { .. } => 409,
            AppError::Upstream { .. } => 502,
            AppError::Internal { .. } => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// On the server this is how an argument that does not parse becomes an error: its status is set here (422),
    /// or the framework's default 500 would go out with it.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let error = match value {
            ServerFnErrorErr::Args(text)
            | ServerFnErrorErr::MissingArg(text)
            | ServerFnErrorErr::Deserialization(text) => match missing_field(&text) {
                Some(field) => AppError::Validation {
                    field,
                    message: "this field is required".into(),
                },
                None => AppError::Validation {
                    field: "request".into(),
                    message: "the request could not be read".into(),
                },
            },
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => AppError::Upstream {
                service: "console".into(),
                message: "the console did not answer; check your connection".into(),
            },
            _ => AppError::Internal {
                reference: "server-function".into(),
            },
        };
        #[cfg(feature = "ssr")]
        crate::services::set_page_status(&error);
        error
    }
}

/// The field serde names in "missing field `name`", if that is what went wrong (and the name is a plain one).
fn missing_field(text: &str) -> Option<String> {
    let start = text.find("missing field `")? + "missing field `".len();
    let name = &text[start..start + text[start..].find('`')?];
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '[' | ']'));
    plain.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_argument_is_named_and_nothing_else_of_the_parser_is_repeated() {
        let error = AppError::from_server_fn_error(ServerFnErrorErr::Args(
            "missing field `valid_days`".into(),
        ));
        assert_eq!(
            error,
            AppError::Validation {
                field: "valid_days".into(),
                message: "this field is required".into()
            }
        );
        let error = AppError::from_server_fn_error(ServerFnErrorErr::Args(
            "invalid digit found in string".into(),
        ));
        assert!(matches!(error, AppError::Validation { field, .. } if field == "request"));
    }
}
