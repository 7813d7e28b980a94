//! Health against the emulator: the harness's traffic generator degrades one colour and publishes believable
//! metrics with a backfilled history (so rules "for 2 min" can be judged at once); the shared collector's gate
//! fails that colour with the right rule and numbers, keeps the others healthy, and the API says the same.

mod support;

use app::dto::{Colour, ServiceHealth, Verdict};
use support::console::TestConsole;

async fn health(console: &TestConsole, environment: &str, service: &str) -> ServiceHealth {
    let collector = console
        .running
        .health
        .iter()
        .find(|c| c.environment().name == environment)
        .unwrap();
    collector.collect_once().await;
    collector.service(service).unwrap()
}

fn colour(health: &ServiceHealth, colour: Colour) -> &app::dto::ColourHealth {
    health.colours.iter().find(|c| c.colour == colour).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_degraded_colour_fails_the_gate_with_the_rule_and_numbers_and_an_idle_colour_has_no_data()
{
    let console = TestConsole::start(true, |config| {
        config.aws.poll_interval = std::time::Duration::from_secs(3600)
    })
    .await;
    let run_dir = tempfile::tempdir().unwrap();
    // ECS in the harness settles 0.2 s after seeding: let the traffic generator see running tasks.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // Production api blue has been answering 7 % 5xx (at a normal p95) for the last six minutes.
    console.moto.traffic(
        &[
            "degrade",
            "production",
            "api",
            "blue",
            "--error-rate",
            "0.07",
            "--p95-ms",
            "300",
        ],
        run_dir.path(),
    );
    console.moto.traffic(
        &[
            "run",
            "--once",
            "--backfill-minutes",
            "6",
            "--backfill-delay",
            "0",
        ],
        run_dir.path(),
    );

    let degraded = health(&console, "production", "api").await;
    let blue = colour(&degraded, Colour::Blue);
    assert_eq!(blue.judgement.verdict, Verdict::Failing, "{blue:?}");
    let fired = blue
        .judgement
        .fired
        .iter()
        .find(|f| f.rule == "error rate (rollback)")
        .expect("the rollback rule fired");
    assert!(
        fired.message.starts_with("5xx ") && fired.message.ends_with("> 5.0 % for 2 min"),
        "{}",
        fired.message
    );
    assert!(fired.value > 5.0 && fired.value < 10.0, "{fired:?}");
    assert!(
        !blue
            .judgement
            .fired
            .iter()
            .any(|f| f.rule.starts_with("latency")),
        "p95 stayed at 300 ms: {:?}",
        blue.judgement.fired
    );
    assert!(
        blue.kpis.requests_per_second.unwrap() > 50.0,
        "{:?}",
        blue.kpis
    );
    let green = colour(&degraded, Colour::Green);
    assert_eq!(
        green.judgement.verdict,
        Verdict::NoData,
        "green runs no task: no data, never zero"
    );
    assert_eq!(green.kpis.requests_per_second, None);

    // Staging, under the same generator, is healthy with believable numbers.
    let staging = health(&console, "staging", "api").await;
    let green = colour(&staging, Colour::Green);
    assert_eq!(green.judgement.verdict, Verdict::Healthy, "{green:?}");
    assert!(
        green.kpis.p95_ms.unwrap() < 500.0 && green.kpis.error_rate_percent.unwrap() < 1.0,
        "{:?}",
        green.kpis
    );

    // The service page renders the same judgement on the server.
    let viewer = console.browser_as("vera").await;
    let page = viewer
        .get(&console.url("/env/production/service/api"))
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"data-colour="blue" data-verdict="failing""#),
        "{}",
        page.body
    );
    assert!(page
        .body
        .contains(r#"data-colour="green" data-verdict="no data""#));
    assert!(
        page.body.contains("error rate (rollback)") && page.body.contains("&gt; 5.0 % for 2 min")
    );
    // Charts are server-rendered SVG with a title for screen readers; the failing series is drawn above its line.
    assert!(page
        .body
        .contains(r#"class="sparkline above"><title>blue: 5xx rate per minute</title>"#));

    // The Overview carries a badge per colour.
    let page = viewer.get(&console.url("/")).await;
    let production = &page.body[page.body.find(r#"data-environment="production""#).unwrap()..];
    let api_row = &production[production.find(r#"data-service="api""#).unwrap()..];
    let blue_cell = &api_row[api_row.find(r#"data-colour="blue""#).unwrap()..];
    assert!(
        blue_cell[..blue_cell.find("</td>").unwrap()]
            .contains(r#"class="verdict verdict-failing">failing<"#),
        "{blue_cell}"
    );

    // The same verdict through the read-only API, for CI and the release engine.
    let admin = console.browser_as("ada").await;
    let page = admin
        .post_form(
            &console.url("/api/tokens/create"),
            &[("name", "ci"), ("scopes[0]", "read"), ("valid_days", "1")],
        )
        .await;
    let created: app::dto::CreatedToken = serde_json::from_str(&page.body).unwrap();
    let response = reqwest::Client::new()
        .get(console.url("/api/v1/health/production/api"))
        .bearer_auth(&created.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let api: ServiceHealth = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(
        colour(&api, Colour::Blue).judgement.verdict,
        Verdict::Failing
    );
    let missing = reqwest::Client::new()
        .get(console.url("/api/v1/health/production/nope"))
        .bearer_auth(&created.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}
