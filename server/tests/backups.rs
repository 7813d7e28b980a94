//! Backups against the emulator: the seed is compliant; the test then breaks the policy the way real accounts
//! drift (retention cut to 1 day, the DR copy gone, Redis backups stopped 3 days ago, the last drill 40 days old,
//! point-in-time recovery 2 hours behind, the DR region unreachable) and each check turns the right colour with
//! the right reason, and the verdict follows. The actions run through the real SDK and leave audit events.

mod support;

use app::dto::{BackupsView, CheckStatus, DrCopy, Outcome, Recoverable};
use support::console::TestConsole;

async fn backups(console: &TestConsole, environment: &str) -> BackupsView {
    let collector = console
        .running
        .backups
        .iter()
        .find(|c| c.environment().name == environment)
        .unwrap();
    collector.collect_once().await;
    let region = collector.environment().region.clone().unwrap_or_default();
    collector.view(&region).await
}

fn check<'a>(view: &'a BackupsView, id: &str) -> (CheckStatus, &'a str) {
    let check = view
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}: {:?}", view.checks));
    (check.status, check.reason.as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn checks_follow_the_account_as_it_drifts_from_policy_and_the_verdict_follows() {
    let console = TestConsole::start(true, |_| {}).await;
    let eddie = console.browser_as("eddie").await;
    console
        .moto
        .control("/signalbox-moto/config", r#"{"backup_settle_secs": 0}"#);

    // The seed is compliant except that nobody has ever drilled a restore.
    let seeded = backups(&console, "production").await;
    assert_eq!(
        check(&seeded, "drills.recent"),
        (
            CheckStatus::Red,
            "no passing restore drill recorded (policy: every 31 days)"
        )
    );
    assert_eq!(seeded.verdict.recoverable, Recoverable::AtRisk);
    // A drill recorded on the page (as the deployer eddie) makes every check green.
    let recorded = eddie
        .post_form(
            &console.url("/api/backups/drill"),
            &[
                ("environment", "production"),
                ("performed_at", &today(-12)),
                ("snapshot", "accunode-production-db-pre-deploy-v1-2-4"),
                ("duration_minutes", "38"),
                ("passed", "true"),
                ("notes", "row counts and checksums match"),
            ],
        )
        .await;
    assert_eq!(recorded.status, 200, "{}", recorded.body);
    let compliant = backups(&console, "production").await;
    let not_green: Vec<_> = compliant
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Green)
        .collect();
    assert!(not_green.is_empty(), "{not_green:?}");
    assert_eq!(compliant.verdict.recoverable, Recoverable::Yes);
    let loss = compliant.verdict.data_loss_secs.unwrap();
    assert!((240..=420).contains(&loss), "PITR lags ~5 min: {loss}");
    let automated = compliant
        .snapshots
        .iter()
        .filter(|s| s.kind == "automated")
        .count();
    assert_eq!(automated, 7, "one a day for the 7-day retention");
    let pre_deploy = compliant
        .snapshots
        .iter()
        .find(|s| s.id == "accunode-production-db-pre-deploy-v1-2-4")
        .unwrap();
    assert!(matches!(pre_deploy.dr_copy, DrCopy::Present { .. }));

    // Drift: retention 1 day, the DR copy deleted, Redis backups stopped 3 days ago (its manual snapshot is as
    // old), and the only drill 40 days ago.
    console.moto.python(
        "rds = client('rds')\n\
         rds.modify_db_instance(DBInstanceIdentifier='accunode-production-db', BackupRetentionPeriod=1, ApplyImmediately=True)\n\
         client('rds', 'us-west-2').delete_db_snapshot(DBSnapshotIdentifier='accunode-production-db-pre-deploy-v1-2-4')\n",
    );
    console.moto.control(
        "/signalbox-moto/backups",
        r#"{"region": "us-east-1", "elasticache_cluster": "accunode-production-redis", "last_automated_days_ago": 3}"#,
    );
    let drifted = backups(&console, "production").await;
    assert_eq!(
        check(&drifted, "rds.retention"),
        (CheckStatus::Amber, "retention 1 day, policy 7 days")
    );
    assert_eq!(
        check(&drifted, "dr.copies"),
        (
            CheckStatus::Red,
            "no copy in us-west-2 of the newest manual snapshot: accunode-production-db-pre-deploy-v1-2-4"
        )
    );
    let (status, reason) = check(&drifted, "redis.snapshot");
    assert_eq!(status, CheckStatus::Red, "{reason}");
    assert!(
        reason.starts_with("the newest is 3 d old") || reason.starts_with("the newest is 4 d old"),
        "{reason}"
    );
    assert_eq!(
        drifted.verdict.recoverable,
        Recoverable::No,
        "{:?}",
        drifted.verdict
    );
    assert!(drifted
        .verdict
        .failing
        .iter()
        .any(|f| f.starts_with("Redis — Latest snapshot")));
    assert_eq!(
        drifted
            .snapshots
            .iter()
            .filter(|s| s.kind == "automated")
            .count(),
        1,
        "retention 1 keeps one"
    );

    // Staging: its only drill is 40 days old (recorded afterwards, with who ran it).
    let late = eddie
        .post_form(
            &console.url("/api/backups/drill"),
            &[
                ("environment", "staging"),
                ("performed_at", &today(-40)),
                ("performed_by", "the DBA on call"),
                ("snapshot", "accunode-staging-db-pre-deploy-v1-2-4"),
                ("duration_minutes", "51"),
                ("passed", "true"),
            ],
        )
        .await;
    assert_eq!(late.status, 200, "{}", late.body);
    let staging = backups(&console, "staging").await;
    assert_eq!(
        check(&staging, "drills.recent"),
        (
            CheckStatus::Red,
            "overdue: the last passing drill was 40 days ago (policy: every 31 days)"
        )
    );
    assert_eq!(staging.verdict.recoverable, Recoverable::AtRisk);

    // Point-in-time recovery 2 h behind: a restore now would lose 2 h; critical, so not recoverable.
    console.moto.control(
        "/signalbox-moto/backups",
        r#"{"region": "us-east-2", "rds_instance": "accunode-staging-db", "restorable_lag_minutes": 120}"#,
    );
    let lagging = backups(&console, "staging").await;
    assert_eq!(
        check(&lagging, "rds.pitr"),
        (
            CheckStatus::Red,
            "a restore now would lose 2 h of data (limit 15 min)"
        )
    );
    assert_eq!(lagging.verdict.recoverable, Recoverable::No);

    // The DR region unreachable: its check is unknown with the reason, never green, and nothing else changes.
    console.moto.control(
        "/signalbox-moto/faults",
        r#"{"operation": "DescribeDBSnapshots", "region": "us-west-2", "code": "AccessDenied", "status": 403, "message": "nope"}"#,
    );
    let blind = backups(&console, "production").await;
    console.moto.control("/signalbox-moto/faults/clear", "{}");
    let (status, reason) = check(&blind, "dr.copies");
    assert_eq!(status, CheckStatus::Unknown);
    assert_eq!(
        reason,
        "us-west-2 could not be read: AWS refused access (RDS DescribeDBSnapshots); check the role's permissions"
    );
    assert!(blind.state.stale && blind.state.error.is_some());
    assert_eq!(
        check(&blind, "rds.retention").0,
        CheckStatus::Amber,
        "the primary region still reads"
    );

    // The page shows the verdict and each check with its reason, on the server (after a round that reads again).
    assert_eq!(
        check(&backups(&console, "production").await, "dr.copies").0,
        CheckStatus::Red
    );
    let page = eddie.get(&console.url("/env/production/backups")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"data-recoverable="not recoverable""#));
    assert!(page
        .body
        .contains(r#"data-check="dr.copies" data-status="red""#));
    assert!(page.body.contains("retention 1 day, policy 7 days"));
    let unknown = eddie.get(&console.url("/env/nowhere/backups")).await;
    assert_eq!(unknown.status, 404);
}

/// `YYYY-MM-DD` of today plus `days`.
fn today(days: i64) -> String {
    let day = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_actions_work_through_the_sdk_each_audited_and_refused_without_the_role() {
    let console = TestConsole::start(true, |_| {}).await;
    console
        .moto
        .control("/signalbox-moto/config", r#"{"backup_settle_secs": 0}"#);
    let eddie = console.browser_as("eddie").await;
    let vera = console.browser_as("vera").await;
    let environment = [("environment", "production")];

    // A viewer may look but not act.
    let refused = vera
        .post_form(&console.url("/api/backups/rds-snapshot"), &environment)
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);

    // RDS snapshot now.
    let taken = eddie
        .post_form(&console.url("/api/backups/rds-snapshot"), &environment)
        .await;
    assert_eq!(taken.status, 200, "{}", taken.body);
    let id: String = serde_json::from_str(&taken.body).unwrap();
    assert!(id.starts_with("accunode-production-db-manual-"), "{id}");
    // Redis snapshot now.
    let redis = eddie
        .post_form(&console.url("/api/backups/redis-snapshot"), &environment)
        .await;
    assert_eq!(redis.status, 200, "{}", redis.body);
    let name: String = serde_json::from_str(&redis.body).unwrap();
    let view = backups(&console, "production").await;
    let snapshot = view.snapshots.iter().find(|s| s.id == id).expect("listed");
    assert_eq!(snapshot.kind, "manual");
    assert_eq!(snapshot.dr_copy, DrCopy::Missing);
    assert!(view
        .cache
        .as_ref()
        .unwrap()
        .snapshots
        .iter()
        .any(|s| s.name == name));
    // The new manual snapshot is the newest and has no copy: the DR check is red until it is copied.
    assert_eq!(check(&view, "dr.copies").0, CheckStatus::Red);

    // Copy it to the DR region; copying it twice is a conflict, an unknown snapshot a 404, bad input a 422.
    let copied = eddie
        .post_form(
            &console.url("/api/backups/dr-copy"),
            &[("environment", "production"), ("snapshot", &id)],
        )
        .await;
    assert_eq!(copied.status, 200, "{}", copied.body);
    let view = backups(&console, "production").await;
    let snapshot = view.snapshots.iter().find(|s| s.id == id).unwrap();
    assert!(
        matches!(snapshot.dr_copy, DrCopy::Present { .. }),
        "{:?}",
        snapshot.dr_copy
    );
    assert_eq!(check(&view, "dr.copies").0, CheckStatus::Green);
    let again = eddie
        .post_form(
            &console.url("/api/backups/dr-copy"),
            &[("environment", "production"), ("snapshot", &id)],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("already has a copy in us-west-2"));
    let missing = eddie
        .post_form(
            &console.url("/api/backups/dr-copy"),
            &[("environment", "production"), ("snapshot", "no-such")],
        )
        .await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    let bad = eddie
        .post_form(
            &console.url("/api/backups/dr-copy"),
            &[("environment", "production"), ("snapshot", "'; drop")],
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("snapshot"));

    // A drill in the future, or of zero minutes, is refused with the field named; nothing is written.
    for (field, value, named) in [
        ("performed_at", today(3), "performed_at"),
        ("performed_at", "last tuesday".to_string(), "performed_at"),
        ("duration_minutes", "0".to_string(), "duration_minutes"),
    ] {
        let mut form = [
            ("environment", "production".to_string()),
            ("performed_at", today(0)),
            ("snapshot", id.clone()),
            ("duration_minutes", "20".to_string()),
            ("passed", "true".to_string()),
        ];
        form.iter_mut()
            .filter(|(k, _)| *k == field)
            .for_each(|(_, v)| *v = value.clone());
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = eddie
            .post_form(&console.url("/api/backups/drill"), &pairs)
            .await;
        assert_eq!(refused.status, 422, "{field}={value}: {}", refused.body);
        assert!(refused.body.contains(named), "{}", refused.body);
    }
    assert!(console
        .running
        .storage
        .drills("production", 10)
        .await
        .unwrap()
        .is_empty());

    // A refused AWS call is recorded as failed with our reason, and the caller gets it without AWS's text.
    console.moto.control(
        "/signalbox-moto/faults",
        r#"{"operation": "CreateDBSnapshot", "code": "AccessDenied", "status": 403, "message": "secret detail"}"#,
    );
    let failed = eddie
        .post_form(&console.url("/api/backups/rds-snapshot"), &environment)
        .await;
    console.moto.control("/signalbox-moto/faults/clear", "{}");
    assert_eq!(failed.status, 502, "{}", failed.body);
    assert!(failed
        .body
        .contains("AWS refused access (RDS CreateDBSnapshot)"));
    assert!(!failed.body.contains("secret detail"));

    // Every action left an audit event: three done, one failed, one refused; the page lists them with their state.
    let events = console.audit().await;
    let backup_events: Vec<_> = events
        .iter()
        .filter(|e| e.record.action.starts_with("backups."))
        .map(|e| {
            (
                e.record.action.as_str(),
                e.record.outcome,
                e.record.actor.as_str(),
            )
        })
        .collect();
    for expected in [
        ("backups.rds_snapshot", Outcome::Allowed, "eddie"),
        ("backups.redis_snapshot", Outcome::Allowed, "eddie"),
        ("backups.dr_copy", Outcome::Allowed, "eddie"),
        ("backups.rds_snapshot", Outcome::Failed, "eddie"),
        ("backups.rds_snapshot", Outcome::Denied, "vera"),
    ] {
        assert!(
            backup_events.contains(&expected),
            "{expected:?} in {backup_events:?}"
        );
    }
    let copy_event = events
        .iter()
        .find(|e| e.record.action == "backups.dr_copy")
        .unwrap();
    let parameters: serde_json::Value =
        serde_json::from_str(&copy_event.record.parameters).unwrap();
    assert_eq!(parameters["region"], "us-west-2");
    assert_eq!(parameters["created"], id.as_str());
    assert!(parameters["source"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:rds:us-east-1:"));
    let view = backups(&console, "production").await;
    let states: Vec<(&str, &str)> = view
        .actions
        .iter()
        .map(|a| (a.action.as_str(), a.state.as_str()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("backups.rds_snapshot", "failed"),
            ("backups.dr_copy", "done"),
            ("backups.redis_snapshot", "done"),
            ("backups.rds_snapshot", "done"),
        ]
    );
    // A snapshot deleted behind the console's back (while the page is open): its action reads "gone", not "done".
    console.moto.python(&format!(
        "client('elasticache').delete_snapshot(SnapshotName={name:?})\n"
    ));
    let view = backups(&console, "production").await;
    let redis_action = view
        .actions
        .iter()
        .find(|a| a.action == "backups.redis_snapshot")
        .unwrap();
    assert_eq!(redis_action.state, "gone");
    assert_eq!(
        redis_action.detail.as_deref(),
        Some("no longer listed by AWS (deleted?)")
    );
    assert!(server::audit::verify(&console.running.storage)
        .await
        .unwrap()
        .is_intact());
}
