//! A minimal HTTP/1.0 client for the tests. Deliberately not reqwest: its client features would change the
//! feature set of tokio and hyper for test builds, and the test build would then share no artifacts with
//! `cargo leptos build` (measured: a second 17-minute build of the dependencies on 2 cores).

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Response {
    pub status: u16,
    pub body: String,
}

async fn send(addr: SocketAddr, request: String) -> Response {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    Response {
        status,
        body: body.to_string(),
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> Response {
    send(
        addr,
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// POSTs a form body (what Leptos server functions take by default).
pub async fn post_form(addr: SocketAddr, path: &str, body: &str) -> Response {
    send(
        addr,
        format!(
            "POST {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}
