//! Deployments driven the way people and CI drive them, for the engine tests: a CI token, releases registered
//! through the API, requests and actions through the server functions, and waiting on a deployment's state.

use super::browser::Browser;
use super::console::TestConsole;
use app::dto::{DeploymentDetail, DeploymentState, ReleaseView};
use std::time::Duration;

pub const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

pub async fn token(console: &TestConsole, scopes: &[&str]) -> String {
    super::api::admin_token(&console.url(""), scopes).await
}

pub async fn api(
    console: &TestConsole,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> (u16, String) {
    let page = Browser::new()
        .request_raw(
            method,
            &console.url(path),
            body,
            &[
                ("authorization", &format!("Bearer {token}")),
                ("content-type", "application/json"),
            ],
        )
        .await;
    (page.status, page.body)
}

pub async fn register(
    console: &TestConsole,
    token: &str,
    version: &str,
    image: &str,
) -> ReleaseView {
    register_service(console, token, "api", version, image).await
}

pub async fn register_service(
    console: &TestConsole,
    token: &str,
    service: &str,
    version: &str,
    image: &str,
) -> ReleaseView {
    let body = serde_json::json!({
        "service": service,
        "version": version,
        "image": image,
        "digest": DIGEST,
        "commit": "4f2a9c1d",
        "notes": format!("release {version}"),
        "ticket_url": "https://tickets.example/ACC-42",
        "environment": { "FEATURE_BATCH_SCORING": "on" },
    });
    let (status, text) = api(
        console,
        token,
        reqwest::Method::POST,
        "/api/v1/releases",
        &body.to_string(),
    )
    .await;
    assert!(status == 201 || status == 200, "{status} {text}");
    serde_json::from_str(&text).unwrap()
}

pub async fn request(
    browser: &Browser,
    console: &TestConsole,
    release: &str,
    environment: &str,
) -> DeploymentDetail {
    let page = browser
        .post_form(
            &console.url("/api/deploy/request"),
            &[("release", release), ("environment", environment)],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

pub async fn act(
    browser: &Browser,
    console: &TestConsole,
    endpoint: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let page = browser
        .post_form(&console.url(&format!("/api/deployments/{endpoint}")), form)
        .await;
    (page.status, page.body)
}

pub async fn view(console: &TestConsole, id: &str) -> DeploymentDetail {
    use app::services::ReleaseService;
    server::engine::service::EngineReleases::new(console.running.engine.clone())
        .deployment(id)
        .await
        .unwrap()
}

/// Waits (up to 90 s) until the deployment is in `state`; fails with its timeline otherwise.
pub async fn wait_for(console: &TestConsole, id: &str, state: DeploymentState) -> DeploymentDetail {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let current = view(console, id).await;
        if current.summary.state == state {
            return current;
        }
        let stuck =
            current.summary.state.is_terminal() || current.summary.state == DeploymentState::Halted;
        if stuck || std::time::Instant::now() > deadline {
            panic!(
                "deployment {id} is {:?}, waited for {state:?}: {:?}\n{:#?}",
                current.summary.state,
                current.summary.reason,
                current
                    .steps
                    .iter()
                    .map(|s| format!("{} {} {} {:?}", s.title, s.state, s.detail, s.error))
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn live_colour(console: &TestConsole, environment: &str, service: &str) -> (u8, u8) {
    let runtime = console.running.engine.environment(environment).unwrap();
    let config = runtime.config.service(service).unwrap();
    let forwarding = runtime
        .aws
        .routing
        .forwarding(
            &runtime.config.load_balancer,
            config.listener_port,
            config.rule_priority,
        )
        .await
        .unwrap();
    server::engine::plan::shares(config, &forwarding.percentages())
}

/// Waits (up to 120 s) until the deployment is finished or halted for a person.
pub async fn wait_settled(console: &TestConsole, id: &str) -> DeploymentDetail {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let current = view(console, id).await;
        if current.summary.state.is_terminal() || current.summary.state == DeploymentState::Halted {
            return current;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "deployment {id} still {:?}: {:?}",
            current.summary.state,
            current
                .steps
                .iter()
                .map(|s| format!("{} {} {} {:?}", s.title, s.state, s.detail, s.error))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
