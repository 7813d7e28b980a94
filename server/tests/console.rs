//! The console end to end on the server side: real start-up (storage, collectors, router) on port 0 against
//! moto and the real OpenID provider, pages fetched over HTTP by a signed-in browser.

mod support;

use server::bootstrap::{self, Running};
use server::config::Config;
use server::secret::DatabaseUrl;
use std::time::Duration;
use support::browser::Browser;
use support::console::{point_identity, TestConsole};
use support::idp::Idp;
use support::moto::{free_port, repo_root, Moto};

async fn start(config: Config, listener: tokio::net::TcpListener) -> Running {
    bootstrap::start(config, listener)
        .await
        .expect("console starts")
}

fn with_sqlite(mut config: Config, dir: &tempfile::TempDir) -> Config {
    config.database.url = DatabaseUrl::new(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("signalbox.db").display()
    ));
    config
}

async fn get(browser: &Browser, base: &str, path: &str) -> (u16, String) {
    let page = browser.get(&format!("{base}{path}")).await;
    (page.status, page.body)
}

/// Waits until every environment has been read from AWS at least once.
async fn wait_for_readings(running: &Running) {
    for collector in &running.collectors {
        let mut receiver = collector.subscribe();
        tokio::time::timeout(
            Duration::from_secs(20),
            receiver.wait_for(|r| {
                r.as_ref()
                    .is_some_and(|r| r.observed_at.is_some() || r.error.is_some())
            }),
        )
        .await
        .expect("a first reading within 20 s")
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_overview_shows_the_seeded_topology_and_the_probes_answer() {
    let console = TestConsole::start(true, |_| {}).await;
    let running = &console.running;
    wait_for_readings(running).await;
    // Let ECS settle (0.2 s in the harness) and the collector read again (every 1 s here).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let viewer = console.browser_as("vera").await;
    let base = console.base.as_str();

    let (status, html) = get(&viewer, base, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-environment="production""#), "{html}");
    assert!(html.contains(r#"data-environment="staging""#));
    assert!(html.contains("blue live"), "production serves blue");
    assert!(html.contains("green live"), "staging serves green");
    assert!(html.contains(">4/4<"), "production blue runs 4 of 4 tasks");
    assert!(html.contains("accunode-api:v1.2.3"));
    assert!(!html.contains("environment-error"), "no environment failed");

    let (status, html) = get(&viewer, base, "/env/staging").await;
    assert_eq!(status, 200);
    assert!(html.contains("us-east-2") && !html.contains(r#"data-environment="production""#));

    let (status, html) = get(&viewer, base, "/env/production/service/worker").await;
    assert_eq!(status, 200);
    assert!(html.contains(r#"data-service="worker""#) && !html.contains(r#"data-service="api""#));
    for missing in [
        "/env/production/service/no-such-service",
        "/env/no-such-environment/service/api",
    ] {
        let (status, html) = get(&viewer, base, missing).await;
        assert_eq!(status, 404, "{missing}");
        assert!(html.contains("not found"), "{missing}: {html}");
    }

    let (status, html) = get(&viewer, base, "/env/no-such-environment").await;
    assert_eq!(status, 404, "unknown environment is a 404 page, not a 500");
    assert!(html.contains("not found"));
    let (status, _) = get(&viewer, base, "/definitely/not/here").await;
    assert_eq!(status, 404);

    // The probes need no sign-in.
    let anonymous = Browser::new();
    let (status, body) = get(&anonymous, base, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) = get(&anonymous, base, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["database"], "sqlite");
    assert_eq!(
        ready["migrations"]["applied"],
        ready["migrations"]["expected"]
    );

    // The server function behind the Refresh button answers JSON without any AWS text.
    let response = viewer.post_form(&console.url("/api/overview"), &[]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let overview: app::dto::Overview = serde_json::from_str(&response.body).unwrap();
    assert_eq!(overview.environments.len(), 2);
    assert_eq!(
        overview.environments[0].services[0].routing.live_colour(),
        Some(app::dto::Colour::Blue)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_unreachable_environment_gets_an_error_panel_and_the_rest_still_shows() {
    let closed = free_port();
    let console = TestConsole::start(true, |config| {
        config.environments[1].endpoint_url = Some(format!("http://127.0.0.1:{closed}"));
    })
    .await;
    wait_for_readings(&console.running).await;
    let viewer = console.browser_as("vera").await;

    let (status, html) = get(&viewer, &console.base, "/").await;
    assert_eq!(status, 200);
    assert!(html.contains("blue live"), "production still shows");
    let staging = &html[html
        .find(r#"data-environment="staging""#)
        .expect("staging section")..];
    assert!(
        staging.contains("environment-error"),
        "staging shows its error panel"
    );
    assert!(staging.contains("AWS did not answer"), "{staging}");
    assert!(
        !html.contains(&format!("127.0.0.1:{closed}")),
        "no endpoint detail reaches the page"
    );
    assert!(
        !html.contains("dispatch failure"),
        "no SDK text reaches the page"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_switch_made_outside_signalbox_is_recorded_and_a_restart_shows_the_last_known_state() {
    let moto = Moto::seeded(&repo_root().join("signalbox.example.toml"));
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let idp = Idp::start(std::slice::from_ref(&base));
    let mut config = with_sqlite(moto.example_config(), &dir);
    point_identity(&mut config, &idp.issuer, &base);
    let running = start(config.clone(), listener).await;
    wait_for_readings(&running).await;
    let production = running
        .collectors
        .iter()
        .find(|c| c.environment().name == "production")
        .unwrap();
    production.collect_once().await;

    // Someone moves production api to green directly in AWS.
    moto.python(
        "elb = client('elbv2')\n\
         lb = elb.describe_load_balancers(Names=['accunode-production-alb'])['LoadBalancers'][0]['LoadBalancerArn']\n\
         listener = [l for l in elb.describe_listeners(LoadBalancerArn=lb)['Listeners'] if l['Port'] == 80][0]\n\
         green = elb.describe_target_groups(Names=['accunode-prod-api-green'])['TargetGroups'][0]['TargetGroupArn']\n\
         elb.modify_listener(ListenerArn=listener['ListenerArn'], DefaultActions=[{'Type': 'forward', 'TargetGroupArn': green}])\n",
    );
    production.collect_once().await;
    let changes = running
        .storage
        .topology_changes("production", 10)
        .await
        .unwrap();
    let switch = changes
        .iter()
        .find(|c| c.field == "live_colour")
        .expect("the switch was recorded");
    assert_eq!(
        (
            switch.service.as_str(),
            switch.before.as_deref(),
            switch.after.as_deref()
        ),
        ("api", Some("blue"), Some("green"))
    );
    running.stop().await.unwrap();

    // Restart with AWS gone: the last stored reading shows, marked stale, with the reason.
    let mut offline = config;
    let closed = free_port();
    for environment in &mut offline.environments {
        environment.endpoint_url = Some(format!("http://127.0.0.1:{closed}"));
    }
    let running = start(offline, tokio::net::TcpListener::bind(addr).await.unwrap()).await;
    wait_for_readings(&running).await;
    let mut receiver = running.collectors[0].subscribe();
    let reading = tokio::time::timeout(
        Duration::from_secs(20),
        receiver.wait_for(|r| r.as_ref().is_some_and(|r| r.error.is_some())),
    )
    .await
    .expect("the failed poll is reported")
    .unwrap()
    .clone()
    .unwrap();
    assert!(reading.stale, "{reading:?}");
    assert_eq!(
        reading.services[0].routing.live_colour(),
        Some(app::dto::Colour::Green)
    );
    let viewer = Browser::new();
    viewer.sign_in(&base, "vera", "/").await;
    let (status, html) = get(&viewer, &base, "/env/production").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("green live")
            && html.contains("stale")
            && html.contains("AWS did not answer"),
        "{html}"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_answers_503_when_the_database_goes_away() {
    support::moto::fake_aws_credentials();
    let database = support::postgres::create_database().await;
    let url = database.url.clone();
    let console = TestConsole::start(false, move |config| {
        config.environments.clear();
        config.database.url = DatabaseUrl::new(url);
        config.database.pool_timeout = Duration::from_secs(1);
    })
    .await;
    let probe = Browser::new();
    let (status, body) = get(&probe, &console.base, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("postgres"));

    support::postgres::drop_database(&database).await;
    let (status, body) = get(&probe, &console.base, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("database"), "{body}");
    // The process itself is still up.
    assert_eq!(get(&probe, &console.base, "/healthz").await.0, 200);
    let running = console.running;
    running.stop().await.unwrap();
}
