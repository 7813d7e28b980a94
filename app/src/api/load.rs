//! How pages load what server functions answer: on the server while rendering, sent with the page, read back in
//! the browser to hydrate, and fetched again from the browser when their source changes.

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;

/// A server function's answer as a page holds it.
pub type Loaded<T> = Resource<T, ServerFnJson>;

/// `fetcher(source())`, run again whenever `source` changes: `Resource::new` with [`ServerFnJson`].
#[track_caller]
pub fn load<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Loaded<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Send + Sync + Clone + PartialEq + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

/// JSON, read back the way the browser reads a server function's answer (`serde_json::from_slice`). Leptos's
/// default codec reads with `from_str`, a reader of another type, and so the wasm held every answer's
/// deserializer twice: once for hydrating, once for fetching.
pub struct ServerFnJson;

impl<T: Serialize> Encoder<T> for ServerFnJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for ServerFnJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(encoded: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(encoded.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::ServerFnJson;
    use crate::error::AppError;
    use leptos::server::codee::{Decoder, Encoder};

    #[test]
    fn answers_come_back_as_they_left() {
        let answers: Vec<Result<Vec<String>, AppError>> = vec![
            Ok(vec![
                "api \"v1.3.0\" <script>".into(),
                "Zürich ✓ 🚀\n\t\\".into(),
            ]),
            Err(AppError::NotFound {
                what: "service api in nowhere".into(),
            }),
        ];
        for answer in answers {
            let encoded = ServerFnJson::encode(&answer).unwrap();
            let decoded: Result<Vec<String>, AppError> = ServerFnJson::decode(&encoded).unwrap();
            assert_eq!(decoded, answer, "{encoded}");
        }
    }

    #[test]
    fn bad_data_is_an_error_not_a_panic() {
        let decoded: Result<Result<Vec<String>, AppError>, _> = ServerFnJson::decode("{\"Ok\":[1");
        assert!(decoded.is_err());
    }
}
