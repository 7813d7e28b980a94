//! The authorisation matrix: every server function (from Leptos' own registry) × every role, and every REST API
//! route (from the table the API router is built from) × every token scope, gives exactly what the permission
//! table says. A server function without a rule, or without a sample request (support/server_fns.rs), fails
//! the test.

mod support;

use app::api::SERVER_FUNCTION_RULES;
use app::auth::{role_may, Role, Scope};
use app::dto::{CreatedToken, Outcome};
use server::http::api_v1::API_ROUTES;
use support::browser::Browser;
use support::console::TestConsole;
use support::server_fns::sample_body;

const DEMO_USERS: &[(&str, Role)] = &[
    ("vera", Role::Viewer),
    ("eddie", Role::Deployer),
    ("rita", Role::Approver),
    ("ada", Role::Admin),
    ("audrey", Role::Auditor),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_server_function_answers_every_role_as_the_permission_table_says() {
    // Every role and anonymous callers from one address: lift both limits so only the rules answer.
    let console = TestConsole::start(true, |config| {
        config.security.per_user_per_minute = 10_000;
        config.security.per_ip_per_minute = 10_000;
    })
    .await;
    let registered = support::server_fns::registered();
    assert!(
        registered.len() >= SERVER_FUNCTION_RULES.len(),
        "{registered:?}"
    );
    for path in &registered {
        assert!(
            SERVER_FUNCTION_RULES.iter().any(|(p, _)| p == path),
            "server function {path} has no rule in app::api::SERVER_FUNCTION_RULES"
        );
    }
    for (path, _) in SERVER_FUNCTION_RULES {
        assert!(
            registered.iter().any(|p| p == path),
            "rule for {path}, which is not registered"
        );
    }

    let mut browsers = Vec::new();
    for (user, role) in DEMO_USERS {
        browsers.push((Some(*role), console.browser_as(user).await));
    }
    browsers.push((None, Browser::new()));

    let mut checked = 0;
    for path in &registered {
        let rule = SERVER_FUNCTION_RULES
            .iter()
            .find(|(p, _)| p == path)
            .unwrap()
            .1;
        for (role, browser) in &browsers {
            let page = browser
                .request_raw(
                    reqwest::Method::POST,
                    &console.url(path),
                    sample_body(path),
                    &[("content-type", "application/x-www-form-urlencoded")],
                )
                .await;
            let expected_allowed = match (rule, role) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(permission), Some(role)) => role_may(*role, permission),
            };
            let who = role.map(|r| r.as_str()).unwrap_or("anonymous");
            if expected_allowed {
                assert!(
                    ![401, 403].contains(&page.status) && page.status < 500,
                    "{who} may call {path}: got {} {}",
                    page.status,
                    page.body
                );
            } else {
                let expected = if role.is_some() { 403 } else { 401 };
                assert_eq!(page.status, expected, "{who} on {path}: {}", page.body);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, registered.len() * browsers.len());

    // Every refusal left an audit event; the trail is intact.
    let events = console.audit().await;
    let denied = events
        .iter()
        .filter(|e| e.record.outcome == Outcome::Denied)
        .count();
    assert!(denied > 10, "{denied} denials recorded");
    assert!(server::audit::verify(&console.running.storage)
        .await
        .unwrap()
        .is_intact());
}

async fn create_token(
    admin: &Browser,
    console: &TestConsole,
    name: &str,
    scopes: &[Scope],
) -> CreatedToken {
    let mut form = vec![
        ("name".to_string(), name.to_string()),
        ("valid_days".into(), "30".into()),
    ];
    for (i, scope) in scopes.iter().enumerate() {
        form.push((format!("scopes[{i}]"), scope.as_str().to_string()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let page = admin
        .post_form(&console.url("/api/tokens/create"), &pairs)
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

async fn api(console: &TestConsole, token: Option<&str>, path: &str) -> (u16, String) {
    call(console, token, reqwest::Method::GET, path).await
}

async fn call(
    console: &TestConsole,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
) -> (u16, String) {
    let mut request = reqwest::Client::new().request(method, console.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_api_route_answers_every_scope_as_the_scope_table_says() {
    let console =
        TestConsole::start(true, |config| config.security.per_user_per_minute = 10_000).await;
    let admin = console.browser_as("ada").await;
    let mut tokens = Vec::new();
    for scope in Scope::ALL {
        tokens.push((
            scope,
            create_token(&admin, &console, scope.as_str(), &[scope])
                .await
                .secret,
        ));
    }
    for route in API_ROUTES {
        let path = route
            .path
            .replace("{name}", "production")
            .replace("{environment}", "production")
            .replace("{service}", "api")
            .replace("{id}", "no-such-deployment");
        let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        // Routes on one item or with a body answer 404/422 to an allowed sample call; the rest answer 200.
        let exact = method == reqwest::Method::GET && !route.path.contains("{id}");
        assert!(
            !path.contains('{'),
            "give {path} a sample value in this test"
        );
        assert_eq!(
            call(&console, None, method.clone(), &path).await.0,
            401,
            "{path} without a token"
        );
        for (scope, secret) in &tokens {
            let (status, body) = call(&console, Some(secret), method.clone(), &path).await;
            match route.permission {
                Some(permission) if !scope.grants(permission) => {
                    assert_eq!(status, 403, "{scope} on {path}: {body}");
                    let needed = Scope::needed_for(permission).unwrap();
                    assert!(
                        body.contains(needed.as_str()),
                        "the 403 names the missing scope {needed}: {body}"
                    );
                }
                _ if exact => assert_eq!(status, 200, "{scope} on {path}: {body}"),
                _ => assert!(
                    ![401, 403].contains(&status) && status < 500,
                    "{scope} on {method} {path}: {status} {body}"
                ),
            }
        }
    }
    // A browser session is not an API credential.
    let page = admin.get(&console.url("/api/v1/environments")).await;
    assert_eq!(page.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_shown_once_stored_hashed_revocable_and_every_use_is_recorded() {
    let console = TestConsole::start(true, |_| {}).await;
    let admin = console.browser_as("ada").await;
    let created = create_token(
        &admin,
        &console,
        "github-actions",
        &[Scope::Read, Scope::DeploymentsRequest],
    )
    .await;
    assert!(created.secret.starts_with("sbx_"));
    let stored = console.running.storage.api_tokens().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].secret_hash, created.secret);
    assert!(
        !stored[0].secret_hash.contains(&created.secret[12..]),
        "only a hash is kept"
    );
    let listed = admin.post_form(&console.url("/api/tokens/list"), &[]).await;
    assert!(
        !listed.body.contains(&created.secret),
        "the list never shows the secret"
    );

    let (status, body) = api(&console, Some(&created.secret), "/api/v1/environments").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("production"));
    let (status, body) = api(&console, Some(&created.secret), "/api/v1/audit/events").await;
    assert_eq!(status, 403);
    assert!(body.contains("audit:read"), "{body}");
    let tokens = console.running.storage.api_tokens().await.unwrap();
    assert!(tokens[0].last_used_at.is_some(), "last use is shown");

    let events = console.audit().await;
    let uses: Vec<_> = events
        .iter()
        .filter(|e| e.record.actor == format!("token:{}", created.token.id))
        .map(|e| (e.record.action.as_str(), e.record.outcome))
        .collect();
    assert_eq!(
        uses,
        [
            ("api.environments.list", Outcome::Allowed),
            ("api.audit.list", Outcome::Denied)
        ]
    );

    // Only admins create tokens; a bad request names the field.
    let rita = console.browser_as("rita").await;
    let refused = rita
        .post_form(
            &console.url("/api/tokens/create"),
            &[("name", "x"), ("scopes[0]", "read"), ("valid_days", "1")],
        )
        .await;
    assert_eq!(refused.status, 403);
    let bad = admin
        .post_form(
            &console.url("/api/tokens/create"),
            &[("name", "x"), ("scopes[0]", "root"), ("valid_days", "1")],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(
        bad.body.contains("scopes") && bad.body.contains("root"),
        "{}",
        bad.body
    );
    let bad = admin
        .post_form(
            &console.url("/api/tokens/create"),
            &[("name", "x"), ("valid_days", "1")],
        )
        .await;
    assert!(bad.body.contains("at least one scope"), "{}", bad.body);

    let revoked = admin
        .post_form(
            &console.url("/api/tokens/revoke"),
            &[("id", created.token.id.as_str())],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    let (status, body) = api(&console, Some(&created.secret), "/api/v1/environments").await;
    assert_eq!(status, 401);
    assert!(body.contains("revoked"), "{body}");
    let (status, _) = api(
        &console,
        Some("sbx_000000000000_forged"),
        "/api/v1/environments",
    )
    .await;
    assert_eq!(status, 401);
    let refusals = console
        .audit()
        .await
        .into_iter()
        .filter(|e| e.record.action == "api.authenticate")
        .count();
    assert_eq!(refusals, 2, "refused tokens are recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_trail_pages_filters_exports_and_verifies_for_auditors_only() {
    let console = TestConsole::start(false, |config| {
        config.environments.clear();
        config.security.per_user_per_minute = 10_000;
    })
    .await;
    let auditor = console.browser_as("audrey").await;
    let viewer = console.browser_as("vera").await;
    // Denials make events to find.
    for _ in 0..60 {
        viewer
            .post_form(&console.url("/api/tokens/list"), &[])
            .await;
    }
    let page = auditor
        .post_form(
            &console.url("/api/audit/page"),
            &[("filter[actor]", "vera")],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let first: app::dto::AuditPage = serde_json::from_str(&page.body).unwrap();
    assert_eq!(
        first.events.len(),
        app::api::audit::AUDIT_PAGE_SIZE as usize
    );
    assert!(first.events.iter().all(|e| e.record.actor == "vera"));
    let next = first.next.expect("a second page");
    let page = auditor
        .post_form(
            &console.url("/api/audit/page"),
            &[("filter[actor]", "vera"), ("before", &next.to_string())],
        )
        .await;
    let second: app::dto::AuditPage = serde_json::from_str(&page.body).unwrap();
    assert!(second.events.iter().all(|e| e.seq < next));
    assert_eq!(
        first.events.len() + second.events.len(),
        61,
        "60 denials and the sign-in"
    );

    let bad = auditor
        .post_form(
            &console.url("/api/audit/page"),
            &[("filter[from]", "yesterday")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("from"), "{}", bad.body);

    let csv = auditor
        .get(&console.url("/audit/export.csv?action=token"))
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv
        .header("content-disposition")
        .unwrap()
        .contains("attachment"));
    let lines: Vec<_> = csv.body.lines().collect();
    assert!(lines[0].starts_with("seq,occurred_at,actor"));
    assert_eq!(lines.len(), 61, "a header and the 60 token.list denials");
    let json = auditor.get(&console.url("/audit/export.json")).await;
    let all: Vec<app::dto::AuditEvent> = serde_json::from_str(&json.body).expect("valid JSON");
    assert!(all.len() >= 62);
    let viewer_export = viewer.get(&console.url("/audit/export.csv")).await;
    assert_eq!(viewer_export.status, 403);

    let verify = auditor
        .post_form(&console.url("/api/audit/verify"), &[])
        .await;
    let report: app::dto::ChainReport = serde_json::from_str(&verify.body).unwrap();
    assert!(report.is_intact(), "{report:?}");
    let exports = console
        .audit()
        .await
        .into_iter()
        .filter(|e| e.record.action == "audit.export")
        .count();
    assert_eq!(exports, 3, "two exports and one refusal are recorded");
}
