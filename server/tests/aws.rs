//! The AWS adapters through the real SDK clients against moto (with the harness plugin), seeded with the
//! reference stack by the demo's own seeder.

mod support;

use server::aws::{AwsErrorKind, EnvironmentAws};
use server::config::Config;
use std::sync::OnceLock;
use std::time::Duration;
use support::moto::{repo_root, Moto};
use time::OffsetDateTime;

/// One seeded emulator for the read-only tests of this file.
fn seeded() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| Moto::seeded(&repo_root().join("signalbox.example.toml")))
}

async fn environment(config: &Config, name: &str) -> EnvironmentAws {
    EnvironmentAws::connect(config, config.environment(name).expect("environment")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_reads_the_live_colour_of_each_service() {
    let config = seeded().example_config();
    let production = environment(&config, "production").await;
    let api = production
        .routing
        .forwarding("accunode-production-alb", 80, None)
        .await
        .unwrap();
    let names: Vec<_> = api.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["accunode-prod-api-blue"]);
    // The worker is routed by the listener rule with priority 10, not the default action.
    let worker = production
        .routing
        .forwarding("accunode-production-alb", 80, Some(10))
        .await
        .unwrap();
    assert!(worker.rule_arn.is_some());
    assert_eq!(worker.targets[0].name, "accunode-prod-worker-blue");

    let staging = environment(&config, "staging").await;
    let api = staging
        .routing
        .forwarding("accunode-staging-alb", 80, None)
        .await
        .unwrap();
    assert_eq!(api.targets[0].name, "accunode-stg-api-green");

    let health = production
        .routing
        .target_health("accunode-prod-api-blue")
        .await
        .unwrap();
    assert!(
        !health.is_empty(),
        "the live target group has registered targets"
    );
    assert!(health.iter().all(|t| t.state == "healthy"), "{health:?}");

    let missing = production
        .routing
        .forwarding("accunode-production-alb", 8443, None)
        .await
        .unwrap_err();
    assert_eq!(missing.kind, AwsErrorKind::NotFound);
    assert!(
        missing.public_message().contains("port 8443"),
        "{}",
        missing.public_message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_reads_services_counts_and_task_definitions() {
    let config = seeded().example_config();
    let production = environment(&config, "production").await;
    let names: Vec<String> = [
        "accunode-production-api-blue",
        "accunode-production-api-green",
        "no-such-service",
    ]
    .map(String::from)
    .to_vec();
    // ECS settles 0.2 s after the seed (the harness plugin): wait for it rather than assume.
    let mut services = production
        .fleet
        .services("accunode-production", &names)
        .await
        .unwrap();
    for _ in 0..50 {
        if services["accunode-production-api-blue"].running == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        services = production
            .fleet
            .services("accunode-production", &names)
            .await
            .unwrap();
    }
    assert!(!services.contains_key("no-such-service"));
    let blue = &services["accunode-production-api-blue"];
    assert_eq!((blue.running, blue.desired, blue.pending), (4, 4, 0));
    assert_eq!(blue.primary_rollout(), Some("COMPLETED"));
    let green = &services["accunode-production-api-green"];
    assert_eq!(green.desired, 0);

    let definition = production
        .fleet
        .task_definition(&blue.task_definition_arn)
        .await
        .unwrap();
    assert!(
        definition
            .main_image()
            .unwrap()
            .ends_with("accunode-api:v1.2.3"),
        "{definition:?}"
    );
    assert_eq!(definition.cpu.as_deref(), Some("2048"));
    assert_eq!(definition.memory.as_deref(), Some("4096"));
    let green_definition = production
        .fleet
        .task_definition(&green.task_definition_arn)
        .await
        .unwrap();
    assert!(green_definition
        .main_image()
        .unwrap()
        .ends_with("accunode-api:v1.2.4"));
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_reads_tasks_with_zones_and_addresses_that_match_the_targets() {
    let config = seeded().example_config();
    let production = environment(&config, "production").await;
    let service = "accunode-production-api-blue".to_string();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        tasks = production
            .fleet
            .tasks("accunode-production", &service)
            .await
            .unwrap();
        if tasks.iter().filter(|t| t.last_status == "RUNNING").count() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let running: Vec<_> = tasks
        .iter()
        .filter(|t| t.last_status == "RUNNING")
        .collect();
    assert_eq!(running.len(), 4, "{tasks:?}");
    let zones: std::collections::BTreeSet<_> = running
        .iter()
        .map(|t| t.availability_zone.clone().expect("a zone"))
        .collect();
    assert_eq!(zones.len(), 3, "spread over the three subnets: {zones:?}");
    assert!(running.iter().all(|t| t.desired_status == "RUNNING"
        && t.task_definition_arn
            .contains(":task-definition/accunode-production-api-blue:")
        && t.started_at.is_some()));
    // ELBv2 gives ip targets no zone; the console joins them to tasks by address, so the addresses must match.
    let ids = production
        .routing
        .metric_dimensions("accunode-production-alb", "accunode-prod-api-blue")
        .await
        .unwrap();
    assert!(ids
        .target_group_arn
        .starts_with("arn:aws:elasticloadbalancing:"));
    assert!(ids
        .target_group_dimension
        .starts_with("targetgroup/accunode-prod-api-blue/"));
    let targets = production
        .routing
        .target_health(&ids.target_group_arn)
        .await
        .unwrap();
    let mut target_ips: Vec<_> = targets.iter().map(|t| t.target_id.clone()).collect();
    let mut task_ips: Vec<_> = running
        .iter()
        .map(|t| t.private_ip.clone().unwrap())
        .collect();
    target_ips.sort();
    task_ips.sort();
    assert_eq!(target_ips, task_ips);

    // The idle colour runs nothing.
    let idle = production
        .fleet
        .tasks("accunode-production", "accunode-production-api-green")
        .await
        .unwrap();
    assert!(idle.iter().all(|t| t.last_status != "RUNNING"), "{idle:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn monitoring_lists_alarms_and_computes_percentiles() {
    let moto = seeded();
    let config = moto.example_config();
    let production = environment(&config, "production").await;
    let alarms = production
        .monitoring
        .alarms("accunode-production-")
        .await
        .unwrap();
    let names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
    // The seed's alert rules, per service and colour, plus the database one.
    for rule in [
        "api-blue-high-error-rate",
        "api-blue-health-check-failures",
        "api-blue-p95-response-time",
        "api-blue-cpu-high",
        "api-blue-memory-high",
        "worker-green-cpu-high",
        "db-connection-failures",
    ] {
        let name = format!("accunode-production-{rule}");
        assert!(
            names.contains(&name.as_str()),
            "{rule} missing from {names:?}"
        );
    }
    assert!(alarms
        .iter()
        .all(|a| a.name.starts_with("accunode-production-")));
    assert!(
        alarms.iter().any(|a| a.threshold == Some(80.0)),
        "CPU > 80 % from the seed"
    );
    // Dimensions tie an alarm to a colour, also through metric math (the error-rate alarm has no metric of its own).
    let error_rate = alarms
        .iter()
        .find(|a| a.name == "accunode-production-api-blue-high-error-rate")
        .unwrap();
    assert!(
        error_rate
            .dimensions
            .iter()
            .any(|(name, value)| name == "TargetGroup"
                && value.starts_with("targetgroup/accunode-prod-api-blue/")),
        "{error_rate:?}"
    );
    let cpu = alarms
        .iter()
        .find(|a| a.name == "accunode-production-api-blue-cpu-high")
        .unwrap();
    assert!(cpu
        .dimensions
        .contains(&("ServiceName".into(), "accunode-production-api-blue".into())));

    // Known values 1..=100 ms in a namespace of its own: p95 is 95 ms, Sum is 5050.
    moto.python(
        "import datetime\n\
         cw = client('cloudwatch')\n\
         now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)\n\
         data = [{'MetricName': 'Latency', 'Dimensions': [{'Name': 'Probe', 'Value': 'p'}], 'Timestamp': now, \
         'Value': float(v), 'Unit': 'Milliseconds'} for v in range(1, 101)]\n\
         for i in range(0, 100, 20):\n    cw.put_metric_data(Namespace='Signalbox/Test', MetricData=data[i:i+20])\n",
    );
    let query = |id: &str, stat: &str| server::aws::MetricQuery {
        id: id.into(),
        namespace: "Signalbox/Test".into(),
        metric: "Latency".into(),
        dimensions: vec![("Probe".into(), "p".into())],
        stat: stat.into(),
        period_secs: 3600,
    };
    let end = OffsetDateTime::now_utc() + time::Duration::minutes(5);
    let start = end - time::Duration::hours(2);
    let series = production
        .monitoring
        .metric_data(
            &[
                query("p95", "p95"),
                query("total", "Sum"),
                query("idle", "p99"),
            ],
            start,
            end,
        )
        .await
        .unwrap();
    let value = |id: &str| {
        series
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.points.last())
            .map(|p| p.1)
    };
    let p95 = value("p95").expect("p95 has a value");
    assert!(
        (94.0..=96.0).contains(&p95),
        "p95 of 1..=100 is 95, got {p95}"
    );
    assert_eq!(value("total"), Some(5050.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_read_rds_elasticache_and_the_dr_region() {
    let config = seeded().example_config();
    let production = environment(&config, "production").await;
    let db = production
        .databases
        .instance("accunode-production-db")
        .await
        .unwrap();
    assert!(db.multi_az && db.encrypted, "{db:?}");
    assert_eq!(db.backup_retention_days, 7);
    assert_eq!(db.backup_window.as_deref(), Some("03:00-04:00"));
    let snapshots = production
        .databases
        .snapshots("accunode-production-db")
        .await
        .unwrap();
    assert!(
        snapshots
            .iter()
            .any(|s| s.kind == "manual" && s.id.contains("pre-deploy")),
        "{snapshots:?}"
    );

    let dr = production
        .dr_databases
        .as_ref()
        .expect("dr_region is configured");
    let copies = dr.snapshots("accunode-production-db").await.unwrap();
    assert!(
        !copies.is_empty(),
        "the seeded manual snapshot is copied to us-west-2"
    );

    let cache = production
        .caches
        .cluster("accunode-production-redis")
        .await
        .unwrap();
    assert_eq!(cache.snapshot_retention_days, 7);
    assert_eq!(cache.engine, "redis");
    let cache_snapshots = production
        .caches
        .snapshots("accunode-production-redis")
        .await
        .unwrap();
    assert!(!cache_snapshots.is_empty());

    let missing = production
        .databases
        .instance("no-such-db")
        .await
        .unwrap_err();
    assert_eq!(missing.kind, AwsErrorKind::NotFound, "{missing}");
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_list_metadata_and_read_secrets_redacted() {
    let config = seeded().example_config();
    let production = environment(&config, "production").await;
    let parameters = production.parameters.list("/accunode/prod/").await.unwrap();
    let jwt = parameters
        .iter()
        .find(|p| p.name == "/accunode/prod/JWT_SECRET_KEY")
        .expect("JWT_SECRET_KEY seeded");
    assert_eq!(jwt.kind, "SecureString");
    assert!(parameters
        .iter()
        .all(|p| p.name.starts_with("/accunode/prod/")));
    let secret = production
        .parameters
        .secret("/accunode/prod/JWT_SECRET_KEY")
        .await
        .unwrap();
    assert!(secret.expose().starts_with("demo-jwt-secret-production"));
    assert_eq!(format!("{secret:?}"), "[redacted]");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_endpoint_is_classified_without_leaking_detail() {
    support::moto::fake_aws_credentials();
    let mut config = seeded().example_config();
    let closed = support::moto::free_port();
    for environment in &mut config.environments {
        environment.endpoint_url = Some(format!("http://127.0.0.1:{closed}"));
    }
    let production = environment(&config, "production").await;
    let error = production
        .fleet
        .services("accunode-production", &["x".into()])
        .await
        .unwrap_err();
    assert_eq!(error.kind, AwsErrorKind::Unreachable, "{error}");
    let shown = error.public_message();
    assert!(shown.contains("AWS did not answer"), "{shown}");
    assert!(
        !shown.contains(&closed.to_string()),
        "the endpoint detail stays in the log: {shown}"
    );
}
