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

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::Deserialization(_) => AppError::Validation {
                field: "request".into(),
                message: "the request could not be read".into(),
            },
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => AppError::Upstream {
                service: "console".into(),
                message: "the console did not answer; check your connection".into(),
            },
            _ => AppError::Internal {
                reference: "server-function".into(),
            },
        }
    }
}
