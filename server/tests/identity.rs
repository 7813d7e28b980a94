//! Sign-in through the real OpenID provider (end2end/idp), sessions, roles, API tokens, the web security layer and
//! every refusal: each case is a console and an IdP of its own on loopback ports.

mod support;

use app::auth::{Principal, Role};
use app::dto::{AuditEvent, Outcome};
use reqwest::Method;
use support::browser::{Browser, Page};
use support::console::TestConsole;

async fn console() -> TestConsole {
    TestConsole::start(false, |config| config.environments.truncate(1)).await
}

async fn whoami(browser: &Browser, console: &TestConsole) -> Option<Principal> {
    let page = browser.post_form(&console.url("/api/whoami"), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    serde_json::from_str(&page.body).unwrap()
}

fn last(events: &[AuditEvent], action: &str) -> AuditEvent {
    events
        .iter()
        .rev()
        .find(|e| e.record.action == action)
        .unwrap_or_else(|| panic!("no {action} event in {events:#?}"))
        .clone()
}

/// A refused sign-in: the page says so with `status` (never a 500), the browser is not signed in afterwards, and
/// the audit trail has a refusal whose reason mentions `reason`.
async fn assert_refused(
    console: &TestConsole,
    browser: &Browser,
    page: &Page,
    status: u16,
    reason: &str,
) {
    assert_eq!(page.status, status, "{}", page.body);
    assert!(
        page.body.contains("Sign in again") || page.body.contains("No access"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("internal"), "{}", page.body);
    let home = browser.get(&console.url("/")).await;
    assert_eq!(home.status, 303, "not signed in after a refusal");
    assert!(home.location().unwrap().contains("/auth/login"));
    assert!(whoami(browser, console).await.is_none());
    let event = last(&console.audit().await, "auth.sign_in");
    assert_ne!(event.record.outcome, Outcome::Allowed, "{event:?}");
    assert!(
        event.record.reason.contains(reason),
        "reason {:?} lacks {reason:?}",
        event.record.reason
    );
    assert!(server::audit::verify(&console.running.storage)
        .await
        .unwrap()
        .is_intact());
}

#[tokio::test(flavor = "multi_thread")]
async fn each_demo_user_signs_in_through_the_provider_and_lands_in_their_roles() {
    let console = console().await;
    for (user, roles) in [
        ("vera", vec![Role::Viewer]),
        ("eddie", vec![Role::Deployer]),
        ("rita", vec![Role::Approver]),
        ("ada", vec![Role::Admin]),
        ("audrey", vec![Role::Auditor]),
    ] {
        let browser = console.browser_as(user).await;
        let me = whoami(&browser, &console).await.expect("signed in");
        assert_eq!((me.subject.as_str(), me.roles), (user, roles));
        let event = last(&console.audit().await, "auth.sign_in");
        assert_eq!(
            (event.record.actor.as_str(), event.record.outcome),
            (user, Outcome::Allowed)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_cookie_is_http_only_lax_renewed_at_sign_in_and_gone_after_sign_out() {
    let console = console().await;
    let browser = Browser::new();
    let at_callback = browser
        .sign_in_until_callback(&console.base, "rita", "/")
        .await;
    let before = browser
        .cookie("127.0.0.1", "signalbox_session")
        .expect("a cookie for the pending sign-in");
    let callback = browser.get(&at_callback.location().unwrap()).await;
    assert_eq!(callback.status, 303);
    let cookie = callback.header("set-cookie").expect("a new session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http on 127.0.0.1 is the one exception: {cookie}"
    );
    let after = browser.cookie("127.0.0.1", "signalbox_session").unwrap();
    assert_ne!(before, after, "the session id changes at sign-in");

    // The old id is worth nothing.
    let planted = Browser::new();
    planted.set_cookie("127.0.0.1", "signalbox_session", &before);
    assert!(whoami(&planted, &console).await.is_none());
    // The new one is the session; copied to another browser it still works (it is server-side).
    let copy = Browser::new();
    copy.set_cookie("127.0.0.1", "signalbox_session", &after);
    assert_eq!(whoami(&copy, &console).await.unwrap().subject, "rita");

    // Sign-out deletes the server-side session and goes on to the provider's end-session endpoint.
    let logout = browser.post_form(&console.url("/auth/logout"), &[]).await;
    assert_eq!(logout.status, 303);
    let end_session = logout.location().unwrap();
    assert!(
        end_session.starts_with(&console.idp.issuer),
        "{end_session}"
    );
    assert!(
        end_session.contains("id_token_hint=") && end_session.contains("post_logout_redirect_uri=")
    );
    // Gone everywhere: the copy, read a moment ago (and kept in memory by SQLite's store), no longer signs in.
    assert!(whoami(&copy, &console).await.is_none());
    assert!(
        whoami(&copy, &console).await.is_none(),
        "the stolen copy died with the session"
    );
    let confirm = browser.follow(&end_session).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let xsrf_at = confirm
        .body
        .find("name=\"xsrf\" value=\"")
        .expect("the IdP's logout form")
        + 19;
    let xsrf = &confirm.body[xsrf_at..xsrf_at + confirm.body[xsrf_at..].find('"').unwrap()];
    let done = browser
        .post_form(&confirm.form_action(), &[("xsrf", xsrf), ("logout", "yes")])
        .await;
    let landed = browser.follow_from(done, None).await;
    assert!(landed.url.ends_with("/auth/signed-out"), "{}", landed.url);
    assert!(landed.body.contains("signed out"));
    assert_eq!(
        last(&console.audit().await, "auth.sign_out").record.actor,
        "rita"
    );

    // The provider's session ended too: signing in again asks for the password.
    let again = browser.follow(&console.url("/")).await;
    assert!(again.body.contains("name=\"password\""), "{}", again.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_id_planted_before_sign_in_is_never_the_one_signed_in() {
    let console = console().await;
    // An attacker's own pending sign-in (a real session id the console issued) and a made-up one, each planted in
    // a victim's browser before the victim signs in.
    let attacker = Browser::new();
    let login = attacker.get(&console.url("/auth/login")).await;
    assert_eq!(login.status, 303);
    let issued = attacker
        .cookie("127.0.0.1", "signalbox_session")
        .expect("a session for the pending sign-in");
    for planted in [
        issued.as_str(),
        "AAAAAAAAAAAAAAAAAAAAAA",
        "fixated-by-an-attacker",
    ] {
        let victim = Browser::new();
        victim.set_cookie("127.0.0.1", "signalbox_session", planted);
        let landed = victim.sign_in(&console.base, "rita", "/").await;
        assert_eq!(landed.status, 200, "{planted}: {}", landed.body);
        let signed_in = victim.cookie("127.0.0.1", "signalbox_session").unwrap();
        assert_ne!(signed_in, planted, "the session id changed at sign-in");
        assert_eq!(whoami(&victim, &console).await.unwrap().subject, "rita");
        // Whoever holds the planted value holds nothing.
        let holder = Browser::new();
        holder.set_cookie("127.0.0.1", "signalbox_session", planted);
        assert!(whoami(&holder, &console).await.is_none(), "{planted}");
    }
    assert!(whoami(&attacker, &console).await.is_none());
}

/// Sign-in links an attacker could send, as they appear in the URL (`return_to=<this>`), with the console's own
/// `host:port` as `{console}`.
const RETURN_TO_TRICKS: &[&str] = &[
    "https://evil.example/",
    "https%3A%2F%2Fevil.example%2F",
    "//evil.example",
    "%2F%2Fevil.example",
    "%252F%252Fevil.example",
    "///evil.example",
    "/%2F/evil.example",
    "/\\evil.example",
    "/%5Cevil.example",
    "%5C%5Cevil.example",
    "\\\\evil.example",
    "https:evil.example",
    "https:%2F%2Fevil.example",
    "/%09/evil.example",
    "/%0A/evil.example",
    "%09//evil.example",
    "%20//evil.example",
    "/%0d%0aLocation:%20http://evil.example",
    "http://{console}@evil.example/",
    "http%3A%2F%2F{console}%40evil.example%2F",
    "//{console}@evil.example",
    "javascript:alert(1)",
    "/auth/login?return_to=//evil.example",
    "/.//evil.example",
];

/// Where a redirect's Location takes a browser, resolved against the console; its origin must be the console's.
fn assert_inside(console: &TestConsole, trick: &str, page: &Page) {
    let raw = page.header("location").unwrap_or_default();
    let target = page.location().unwrap_or_default();
    let origin = url::Url::parse(&target)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    assert_eq!(
        origin, console.base,
        "{trick}: Location {raw:?} leads to {target}"
    );
    assert!(
        raw.starts_with('/') && !raw.starts_with("//") && !raw.starts_with("/\\"),
        "{trick}: Location {raw:?} is not a plain path"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn return_to_tricks_never_lead_outside_the_console() {
    let console = TestConsole::start(false, |config| {
        config.environments.truncate(1);
        config.security.per_user_per_minute = 10_000;
        config.security.per_ip_per_minute = 10_000;
    })
    .await;
    let host = console.base.trim_start_matches("http://");
    let signed_in = console.browser_as("vera").await;
    for trick in RETURN_TO_TRICKS {
        let trick = trick.replace("{console}", host);
        let login = format!("{}/auth/login?return_to={trick}", console.base);
        // Signed in already: straight back to return_to.
        let page = signed_in.get(&login).await;
        assert_eq!(page.status, 303, "{trick}: {}", page.body);
        assert_inside(&console, &trick, &page);
        // Not signed in: through the provider, and back from the callback.
        let browser = Browser::new();
        let form = browser.follow(&login).await;
        let posted = browser
            .post_form(
                &form.form_action(),
                &[("login", "vera"), ("password", "demo")],
            )
            .await;
        let callback = browser
            .follow_from(posted, Some(&format!("{}/auth/callback", console.base)))
            .await;
        let back = browser.get(&callback.location().unwrap()).await;
        assert_eq!(back.status, 303, "{trick}: {}", back.body);
        assert_inside(&console, &trick, &back);
        let landed = browser.follow_from(back, None).await;
        assert!(
            landed.url.starts_with(&console.base),
            "{trick}: {}",
            landed.url
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn return_to_brings_you_back_inside_the_console_and_nowhere_else() {
    let console = console().await;
    let browser = Browser::new();
    let landed = browser
        .sign_in(&console.base, "vera", "/env/production?tab=1")
        .await;
    assert!(
        landed.url.ends_with("/env/production?tab=1"),
        "{}",
        landed.url
    );

    let other = Browser::new();
    let login = other
        .get(&console.url("/auth/login?return_to=https%3A%2F%2Fevil.example%2F"))
        .await;
    let page = other.follow_from(login, None).await;
    let posted = other
        .post_form(
            &page.form_action(),
            &[("login", "vera"), ("password", "demo")],
        )
        .await;
    let landed = other.follow_from(posted, None).await;
    assert_eq!(
        landed.url,
        console.url("/"),
        "an outside return_to is replaced by the overview"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_without_state_or_with_an_unknown_state_is_refused() {
    let console = console().await;
    let browser = Browser::new();
    let page = browser.get(&console.url("/auth/callback?code=abc")).await;
    assert_refused(&console, &browser, &page, 400, "no state").await;
    let page = browser
        .get(&console.url("/auth/callback?code=abc&state=forged"))
        .await;
    assert_refused(&console, &browser, &page, 400, "no sign-in was waiting").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_callback_is_refused() {
    let console = console().await;
    let browser = Browser::new();
    let at_callback = browser
        .sign_in_until_callback(&console.base, "rita", "/")
        .await;
    let callback = at_callback.location().unwrap();
    let first = browser.get(&callback).await;
    assert_eq!(first.status, 303, "the first use signs in");
    // The same code and state again, from another browser (an attacker who saw the URL) and from the same one.
    let attacker = Browser::new();
    let page = attacker.get(&callback).await;
    assert_refused(&console, &attacker, &page, 400, "no sign-in was waiting").await;
    let page = browser.get(&callback).await;
    assert_eq!(
        page.status, 400,
        "a used state does not work twice: {}",
        page.body
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_iss_callback_parameter_is_refused() {
    let console = console().await;
    let browser = Browser::new();
    let at_callback = browser
        .sign_in_until_callback(&console.base, "rita", "/")
        .await;
    let mut callback = url::Url::parse(&at_callback.location().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "http://127.0.0.1:1/evil".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(pairs);
    let page = browser.get(callback.as_str()).await;
    assert_refused(&console, &browser, &page, 400, "iss parameter").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_the_provider_refuses_is_refused_with_its_error() {
    let console = console().await;
    let browser = Browser::new();
    let form = browser.follow(&console.url("/")).await;
    let abort = form.form_action().replace("/login", "/abort");
    let page = browser.follow_from(browser.get(&abort).await, None).await;
    assert_refused(&console, &browser, &page, 403, "access_denied").await;
}

/// Each defective ID token the provider can be made to issue, and the word the refusal's reason carries.
const ID_TOKEN_FAULTS: &[(&str, &str)] = &[
    ("wrong-audience", "audience"),
    ("wrong-issuer", "issuer"),
    ("expired", "expired"),
    ("wrong-nonce", "nonce"),
    ("tampered", "signature"),
    ("unsigned", "ID token was refused"),
];

async fn refuses_a_defective_id_token(fault: &str) {
    let (_, word) = ID_TOKEN_FAULTS.iter().find(|(f, _)| *f == fault).unwrap();
    let console = console().await;
    console.idp.fault(fault).await;
    let browser = Browser::new();
    let page = browser.sign_in(&console.base, "ada", "/").await;
    let reason = last(&console.audit().await, "auth.sign_in").record.reason;
    assert!(
        reason.to_lowercase().contains(&word.to_lowercase()),
        "{fault}: {reason}"
    );
    assert_refused(&console, &browser, &page, 400, "ID token was refused").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_token_for_another_audience_is_refused() {
    refuses_a_defective_id_token("wrong-audience").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_token_from_another_issuer_is_refused() {
    refuses_a_defective_id_token("wrong-issuer").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_id_token_is_refused() {
    refuses_a_defective_id_token("expired").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_id_token_with_the_wrong_nonce_is_refused() {
    refuses_a_defective_id_token("wrong-nonce").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_id_token_is_refused() {
    refuses_a_defective_id_token("tampered").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_id_token_is_refused() {
    refuses_a_defective_id_token("unsigned").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_whose_groups_map_to_no_role_sees_no_access_and_gets_no_session() {
    let console = console().await;
    let browser = Browser::new();
    let page = browser.sign_in(&console.base, "nobody", "/").await;
    assert!(
        page.body.contains("No Body") && page.body.contains("give no Signalbox role"),
        "{}",
        page.body
    );
    // No session to end here, but the provider's: a way to sign in as someone else.
    let sign_out_at = page
        .body
        .find("id=\"sign-out\" href=\"")
        .expect("a sign-out link")
        + 20;
    assert!(
        page.body[sign_out_at..].starts_with(&console.idp.issuer),
        "{}",
        page.body
    );
    assert_refused(&console, &browser, &page, 403, "map to no role").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_identity_provider_that_is_down_gives_a_clear_page_not_a_500() {
    let closed = support::moto::free_port();
    let console = TestConsole::start(false, |config| {
        config.environments.clear();
        config.identity.as_mut().unwrap().issuer =
            url::Url::parse(&format!("http://127.0.0.1:{closed}")).unwrap();
    })
    .await;
    let browser = Browser::new();
    let page = browser.follow(&console.url("/env/production")).await;
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        page.body.contains("identity provider is not answering"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(&closed.to_string()),
        "no connection detail reaches the page"
    );
    let event = last(&console.audit().await, "auth.sign_in");
    assert_eq!(event.record.outcome, Outcome::Failed);
    assert!(
        event.record.reason.contains("could not be reached"),
        "{}",
        event.record.reason
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_security_headers_are_on_every_page_and_the_csp_nonce_is_the_scripts() {
    let console = console().await;
    let browser = console.browser_as("vera").await;
    let page = browser.get(&console.url("/")).await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let nonce_at = csp.find("'nonce-").unwrap() + 7;
    let nonce = &csp[nonce_at..nonce_at + csp[nonce_at..].find('\'').unwrap()];
    assert!(
        page.body.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the nonce"
    );
    assert!(!csp.contains("unsafe-inline"));
    let again = browser
        .get(&console.url("/"))
        .await
        .header("content-security-policy")
        .unwrap();
    assert_ne!(again, csp, "a fresh nonce per response");
    assert_eq!(
        page.header("strict-transport-security").as_deref(),
        Some("max-age=63072000; includeSubDomains; preload")
    );
    assert_eq!(
        page.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    // The sign-in pages carry them too.
    let signed_out = Browser::new().get(&console.url("/auth/signed-out")).await;
    assert!(signed_out.header("content-security-policy").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn state_changing_requests_from_another_origin_are_refused_and_recorded() {
    let console = console().await;
    let admin = console.browser_as("ada").await;
    let url = console.url("/api/tokens/create");
    let form = "name=x&scopes[0]=read&valid_days=1";
    for headers in [
        vec![("origin", "http://evil.example")],
        vec![("sec-fetch-site", "cross-site")],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", console.base.as_str()),
        ],
    ] {
        let mut all = headers.clone();
        all.push(("content-type", "application/x-www-form-urlencoded"));
        let page = admin.request_raw(Method::POST, &url, form, &all).await;
        assert_eq!(page.status, 403, "{headers:?}: {}", page.body);
    }
    let event = last(&console.audit().await, "request.cross_origin");
    assert_eq!(event.record.outcome, Outcome::Denied);
    assert!(
        console
            .running
            .storage
            .api_tokens()
            .await
            .unwrap()
            .is_empty(),
        "nothing was created"
    );
    // The same request from the console's own pages goes through.
    let own = admin
        .request_raw(
            Method::POST,
            &url,
            form,
            &[
                ("origin", console.base.as_str()),
                ("sec-fetch-site", "same-origin"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_server_function_and_sign_out_refuse_posts_from_another_origin() {
    let console = TestConsole::start(true, |config| {
        config.security.per_user_per_minute = 10_000;
        config.security.per_ip_per_minute = 10_000;
    })
    .await;
    let admin = console.browser_as("ada").await;
    let same_host_other_port = "http://127.0.0.1:1";
    let foreign: &[&[(&str, &str)]] = &[
        &[("origin", "http://evil.example")],
        &[("origin", "null")],
        &[("origin", same_host_other_port)],
        &[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
        &[("referer", "http://evil.example/page")],
        &[("referer", "http://127.0.0.1:1/")],
    ];
    let mut paths = support::server_fns::registered();
    paths.push("/auth/logout".into());
    let mut refused = 0;
    for path in &paths {
        let body = match path.as_str() {
            "/auth/logout" => "",
            path => support::server_fns::sample_body(path),
        };
        for headers in foreign {
            let mut all = headers.to_vec();
            all.push(("content-type", "application/x-www-form-urlencoded"));
            let page = admin
                .request_raw(Method::POST, &console.url(path), body, &all)
                .await;
            assert_eq!(page.status, 403, "{path} {headers:?}: {}", page.body);
            assert!(page.body.contains("cross_origin"), "{}", page.body);
            refused += 1;
        }
    }
    let storage = &console.running.storage;
    assert!(storage.api_tokens().await.unwrap().is_empty(), "no token");
    assert!(
        storage.drills("production", 100).await.unwrap().is_empty(),
        "no drill"
    );
    assert_eq!(
        whoami(&admin, &console).await.unwrap().subject,
        "ada",
        "not signed out"
    );
    let recorded = console
        .audit()
        .await
        .iter()
        .filter(|e| e.record.action == "request.cross_origin")
        .count();
    assert_eq!(recorded, refused, "every refusal is recorded");
    // The console's own pages, and a same-origin Referer without Origin (older browsers), go through.
    let own_page = format!("{}/tokens", console.base);
    for headers in [
        vec![
            ("origin", console.base.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
        vec![("referer", own_page.as_str())],
    ] {
        let mut all = headers.clone();
        all.push(("content-type", "application/x-www-form-urlencoded"));
        let page = admin
            .request_raw(Method::POST, &console.url("/api/tokens/list"), "", &all)
            .await;
        assert_eq!(page.status, 200, "{headers:?}: {}", page.body);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_apply_per_user_and_per_address_and_large_bodies_are_refused() {
    let console = TestConsole::start(false, |config| {
        config.environments.clear();
        config.security.per_user_per_minute = 5;
        config.security.per_ip_per_minute = 1000;
    })
    .await;
    let browser = console.browser_as("vera").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(
            browser
                .post_form(&console.url("/api/whoami"), &[])
                .await
                .status,
        );
    }
    let limited = statuses
        .iter()
        .position(|s| *s == 429)
        .expect("the user is limited");
    assert!(limited >= 3, "{statuses:?}");
    let page = browser.post_form(&console.url("/api/whoami"), &[]).await;
    assert_eq!(page.status, 429);
    assert!(page.header("retry-after").is_some());
    // Another user is not affected.
    let other = console.browser_as("ada").await;
    assert_eq!(
        other
            .post_form(&console.url("/api/whoami"), &[])
            .await
            .status,
        200
    );

    let big = "x".repeat(200 * 1024);
    let page = other
        .request_raw(
            Method::POST,
            &console.url("/api/tokens/list"),
            &big,
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(page.status, 413, "{}", page.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn per_address_limits_stop_anonymous_floods() {
    let console = TestConsole::start(false, |config| {
        config.environments.clear();
        config.security.per_ip_per_minute = 5;
    })
    .await;
    let anonymous = Browser::new();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(anonymous.get(&console.url("/api/v1/whoami")).await.status);
    }
    assert!(
        statuses.contains(&401) && statuses.contains(&429),
        "{statuses:?}"
    );
    // The probes are never limited.
    assert_eq!(anonymous.get(&console.url("/healthz")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_session_expires() {
    let console = TestConsole::start(false, |config| {
        config.environments.clear();
        config.identity.as_mut().unwrap().idle_timeout = std::time::Duration::from_secs(2);
    })
    .await;
    let browser = console.browser_as("vera").await;
    assert!(whoami(&browser, &console).await.is_some());
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert!(
        whoami(&browser, &console).await.is_none(),
        "idle for longer than the timeout"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_active_session_still_ends_at_its_absolute_lifetime() {
    let console = TestConsole::start(false, |config| {
        config.environments.clear();
        config.identity.as_mut().unwrap().absolute_lifetime = std::time::Duration::from_secs(2);
    })
    .await;
    let browser = console.browser_as("vera").await;
    for _ in 0..3 {
        assert!(
            whoami(&browser, &console).await.is_some(),
            "active within the lifetime"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        whoami(&browser, &console).await.is_none(),
        "past the absolute lifetime"
    );
    let event = last(&console.audit().await, "auth.session_expired");
    assert_eq!(event.record.actor, "vera");
    let page = browser.get(&console.url("/")).await;
    assert_eq!(page.status, 303, "sent to sign in again");
}
