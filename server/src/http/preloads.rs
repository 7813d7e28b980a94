//! Puts a page's wasm chunk preloads into its head. The lazily loaded route knows its chunks only once its view
//! runs, after the head has been written, so it leaves them in [`RoutePreloads`] and this layer splices them in
//! before `</head>`. The page is whole by then (pages render in `SsrMode::Async`), so it goes out as one body
//! with a length rather than as chunks.

use app::pages::RoutePreloads;
use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// A page far larger than any the console renders; past it the body is refused rather than held in memory.
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

pub async fn route_preloads(mut request: Request, next: Next) -> Response {
    let slot = RoutePreloads::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let Some(links) = slot.links().filter(|links| !links.is_empty()) else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let page = match to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(page) => page,
        Err(error) => {
            tracing::error!(%error, "could not read the rendered page");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let Some(head_end) = find(&page, b"</head>") else {
        return Response::from_parts(parts, Body::from(page));
    };
    let mut spliced = Vec::with_capacity(page.len() + links.len());
    spliced.extend_from_slice(&page[..head_end]);
    spliced.extend_from_slice(links.as_bytes());
    spliced.extend_from_slice(&page[head_end..]);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(spliced))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn finds_the_first_end_of_head() {
        assert_eq!(find(b"<head></head><body></head>", b"</head>"), Some(6));
        assert_eq!(find(b"<body></body>", b"</head>"), None);
        assert_eq!(find(b"</hea", b"</head>"), None);
    }
}
