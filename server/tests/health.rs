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
    console
        .moto
        .publish_five_percent_breach("production", "api", "blue", run_dir.path());

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
    assert!(without_placeholders(&page.body)
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

/// The markup without the `<!>` placeholders erased views write after an element's children for hydration
/// (an empty comment to a browser: no text, no name).
fn without_placeholders(html: &str) -> String {
    html.replace("<!>", "")
}

/// The part of the page from `marker` to the end of its element's first `</section>`.
fn section<'a>(body: &'a str, marker: &str) -> &'a str {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the page"));
    let rest = &body[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_health_page_shows_tasks_targets_per_zone_alarms_deployments_and_the_slo() {
    let console = TestConsole::start(true, |config| {
        config.aws.poll_interval = std::time::Duration::from_secs(3600);
        // Re-read the SLO window on every round this test asks for.
        config.slo.refresh = std::time::Duration::ZERO;
    })
    .await;
    let run_dir = tempfile::tempdir().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    // One blue target fails its health checks; CloudWatch has raised the error-rate alarm.
    console.moto.traffic(
        &["degrade", "production", "api", "blue", "--unhealthy", "1"],
        run_dir.path(),
    );
    console.moto.python(
        "client('cloudwatch').set_alarm_state(AlarmName='accunode-production-api-blue-high-error-rate', \
         StateValue='ALARM', StateReason='Threshold Crossed: 5 datapoints were greater than the threshold (1.0).')",
    );
    // A month of hourly history with the harness's two incidents on production api, then minutes.
    console.moto.traffic(
        &[
            "run",
            "--once",
            "--slo-backfill-days",
            "30",
            "--backfill-minutes",
            "6",
            "--backfill-delay",
            "0",
        ],
        run_dir.path(),
    );

    let api = health(&console, "production", "api").await;
    let blue = api.fleet.iter().find(|f| f.colour == Colour::Blue).unwrap();
    assert!(
        !blue.tasks_state.stale && !blue.targets_state.stale,
        "{blue:?}"
    );
    let running: Vec<_> = blue
        .tasks
        .iter()
        .filter(|t| t.last_status == "RUNNING")
        .collect();
    assert_eq!(running.len(), 4, "{:?}", blue.tasks);
    assert!(running.iter().all(|t| t
        .task_definition
        .starts_with("accunode-production-api-blue:")));
    // Every target got its zone from its task; three zones, one unhealthy target among them.
    let zones = app::dto::targets_by_zone(&blue.targets);
    assert_eq!(zones.len(), 3, "{zones:?}");
    assert!(
        zones.iter().all(|z| z.zone.starts_with("us-east-1")),
        "{zones:?}"
    );
    assert_eq!(zones.iter().map(|z| z.unhealthy).sum::<u32>(), 1);
    assert_eq!(zones.iter().map(|z| z.healthy).sum::<u32>(), 3);
    let green = api
        .fleet
        .iter()
        .find(|f| f.colour == Colour::Green)
        .unwrap();
    assert!(green.targets.is_empty() && !green.targets_state.stale);

    // Alarms: the firing one first, tied to blue; the environment's database alarm has no colour; nothing from
    // the worker service or staging.
    assert!(!api.alarms_state.stale, "{:?}", api.alarms_state);
    let first = &api.alarms[0];
    assert_eq!(
        (first.name.as_str(), first.state.as_str(), first.colour),
        (
            "accunode-production-api-blue-high-error-rate",
            "ALARM",
            Some(Colour::Blue)
        )
    );
    assert!(api
        .alarms
        .iter()
        .any(|a| a.name == "accunode-production-db-connection-failures" && a.colour.is_none()));
    assert!(api
        .alarms
        .iter()
        .any(|a| a.name == "accunode-production-api-green-cpu-high"
            && a.colour == Some(Colour::Green)));
    assert!(
        api.alarms
            .iter()
            .all(|a| a.name.starts_with("accunode-production-") && !a.name.contains("worker")),
        "{:?}",
        api.alarms.iter().map(|a| &a.name).collect::<Vec<_>>()
    );

    // The SLO: the harness wrote 310,044,151 requests and 101,354 5xx for this month (its README), so 99.9673 %
    // and 32.7 % of the 0.1 % budget spent; the 6 degraded minutes since (~43,000 requests at 7 %) add ~3,000 5xx:
    // 99.9663 % and 33.7 %.
    let slo = api.slo.as_ref().expect("the SLO was read");
    assert!(!api.slo_state.stale, "{:?}", api.slo_state);
    let availability = slo.availability_percent.unwrap();
    assert!(
        (99.9650..=99.9680).contains(&availability),
        "{availability}"
    );
    let left = slo.budget_remaining_percent.unwrap();
    assert!((65.0..=68.5).contains(&left), "{left}");
    assert!(slo.covered_days > 29.0, "{}", slo.covered_days);
    assert!(
        slo.daily_availability.len() >= 30,
        "{}",
        slo.daily_availability.len()
    );
    // The incident two days ago (45 min at 4 %) shows as that day's dip below the objective.
    let worst = slo
        .daily_availability
        .iter()
        .map(|(_, a)| *a)
        .fold(f64::MAX, f64::min);
    assert!(worst < 99.9, "{worst}");
    // The last minutes at 7 % burn the budget 70 times too fast: the fast-burn page fires, the slow ones do not
    // (their long windows are mostly healthy history), and at this pace the budget lasts hours, not weeks.
    let burn = slo.burn_rate(3600).unwrap();
    assert!((40.0..=100.0).contains(&burn), "{:?}", slo.burn_rates);
    let firing: Vec<_> = slo
        .alerts
        .iter()
        .filter(|a| a.firing)
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(firing, vec!["page: fast burn"], "{:?}", slo.alerts);
    let left_secs = slo.time_left_secs.unwrap();
    assert!((3600.0..=86_400.0).contains(&left_secs), "{left_secs}");
    // Staging api never had an incident: a quarter of its budget spent by the baseline.
    let staging = health(&console, "staging", "api").await;
    let staging_slo = staging.slo.unwrap();
    let staging_left = staging_slo.budget_remaining_percent.unwrap();
    assert!((73.0..=77.0).contains(&staging_left), "{staging_left}");
    assert!(staging_slo.alerts.iter().all(|a| !a.firing));

    // The page renders all of it on the server.
    let viewer = console.browser_as("vera").await;
    let page = viewer
        .get(&console.url("/env/production/service/api"))
        .await;
    assert_eq!(page.status, 200);
    let body = page.body;
    let blue_card = section(&body, r#"data-colour="blue" data-verdict="#);
    assert!(
        blue_card.contains(r#"data-zone="us-east-1a""#),
        "{blue_card}"
    );
    assert!(blue_card.contains("4 RUNNING"), "{blue_card}");
    assert!(blue_card.contains(
        r#"data-alarm="accunode-production-api-blue-high-error-rate" data-state="ALARM""#
    ));
    assert!(blue_card.contains("Threshold Crossed"));
    let deployments = section(&body, r#"data-testid="deployments""#);
    assert!(
        deployments.contains("PRIMARY") && deployments.contains("accunode-production-api-blue:"),
        "{deployments}"
    );
    let alarms = section(&body, r#"data-testid="alarms""#);
    assert!(
        alarms.contains("1 in ALARM")
            && alarms.contains("accunode-production-db-connection-failures")
    );
    let slo_html = section(&body, r#"data-testid="slo""#);
    assert!(
        slo_html.contains(&format!("{availability:.3} %")),
        "{slo_html}"
    );
    // The page's own title, from its route parameters (rendered after the page: see pages/service.rs).
    assert!(
        body.contains("<title>api in production"),
        "the service page's title"
    );
    let slo_markup = without_placeholders(slo_html);
    assert!(slo_markup.contains("<title>Availability per day</title>"));
    assert!(slo_markup.contains("<title>Error budget remaining over the window</title>"));
    assert!(slo_html.contains("objective 99.9 %"));

    // One failing read degrades its own panel only. CloudWatch refuses DescribeAlarms and ECS refuses ListTasks
    // (access errors: the SDK does not retry them away); the last good alarms and tasks stay, marked stale.
    for fault in [
        r#"{"operation": "DescribeAlarms", "code": "AccessDenied", "status": 403, "message": "not for you"}"#,
        r#"{"operation": "ListTasks", "service": "ecs", "code": "AccessDeniedException", "status": 400, "message": "not for you"}"#,
    ] {
        console.moto.control("/signalbox-moto/faults", fault);
    }
    let faulted = health(&console, "production", "api").await;
    console.moto.control("/signalbox-moto/faults/clear", "{}");
    assert!(faulted.alarms_state.stale);
    assert_eq!(
        faulted.alarms_state.error.as_deref(),
        Some("AWS refused access (CloudWatch DescribeAlarms); check the role's permissions")
    );
    assert_eq!(faulted.alarms, api.alarms, "the last good alarms are kept");
    let blue = faulted
        .fleet
        .iter()
        .find(|f| f.colour == Colour::Blue)
        .unwrap();
    assert!(
        blue.tasks_state.stale
            && blue
                .tasks_state
                .error
                .as_deref()
                .unwrap()
                .contains("ECS ListTasks")
    );
    assert_eq!(
        blue.tasks
            .iter()
            .filter(|t| t.last_status == "RUNNING")
            .count(),
        4
    );
    // Targets were read fine, and keep their zones from the last good task list.
    assert!(!blue.targets_state.stale);
    assert_eq!(app::dto::targets_by_zone(&blue.targets).len(), 3);
    // Metrics and the SLO are untouched.
    assert!(
        !faulted.stale && faulted.error.is_none(),
        "{:?}",
        faulted.error
    );
    assert!(!faulted.slo_state.stale);
    assert_eq!(
        colour(&faulted, Colour::Blue).judgement.verdict,
        colour(&api, Colour::Blue).judgement.verdict
    );
    // The page still renders, with the panel saying what failed and no AWS text.
    let page = viewer
        .get(&console.url("/env/production/service/api"))
        .await;
    assert_eq!(page.status, 200);
    let alarms = section(&page.body, r#"data-testid="alarms""#);
    assert!(
        alarms.contains("stale")
            && alarms.contains("AWS refused access (CloudWatch DescribeAlarms)")
    );
    assert!(!page.body.contains("not for you"));
    // And recovers on the next round.
    let recovered = health(&console, "production", "api").await;
    assert!(!recovered.alarms_state.stale && recovered.alarms_state.error.is_none());
}
