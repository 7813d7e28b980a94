//! `make bench` (not part of `make test`): the figures issue 7 asks for, measured on this machine against the
//! real `signalbox` binary (built with the release profile) on loopback: the emulator, the real OpenID provider,
//! SQLite for the pages and PostgreSQL for the large-history figures. Prints a table and writes it to
//! `target/bench/results.md`.
//!
//!   cargo bench -p server --bench console            (scripts/bench installs wrk and builds the wasm first)
//!   cargo bench -p server --bench console -- --quick (shorter runs, for trying the bench itself)

#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::api::{admin_token, call as api};
use support::browser::Browser;
use support::idp::Idp;
use support::moto::{free_port, repo_root, Moto};
use support::replica::{wait_ready, Replica};

const BINARY: &str = env!("CARGO_BIN_EXE_signalbox");

/// One line of the table: what, the figure, the target, and whether it is met.
struct Row {
    figure: String,
    value: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn add(
        &mut self,
        figure: impl Into<String>,
        value: impl Into<String>,
        target: &str,
        met: Option<bool>,
    ) {
        let row = Row {
            figure: figure.into(),
            value: value.into(),
            target: target.into(),
            met,
        };
        println!(
            "  {:<58} {:<44} {}",
            row.figure,
            row.value,
            verdict(row.met, &row.target)
        );
        self.rows.push(row);
    }

    fn markdown(&self, header: &str) -> String {
        let mut out = format!(
            "{header}\n\n| figure | measured | target | met |\n| --- | --- | --- | --- |\n"
        );
        for row in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                row.figure,
                row.value,
                row.target,
                match row.met {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "",
                }
            );
        }
        out
    }
}

fn verdict(met: Option<bool>, target: &str) -> String {
    match met {
        Some(true) => format!("ok ({target})"),
        Some(false) => format!("MISSED ({target})"),
        None => String::new(),
    }
}

/// What wrk measured, from the Lua `done` hook (microseconds).
#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    errors: u64,
    requests: u64,
}

const WRK_REPORT: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"#;

/// `clients` connections for `secs` seconds on `url`, with `cookie` when given.
fn wrk(url: &str, clients: u32, secs: u64, cookie: Option<&str>, script: &Path) -> Load {
    let mut command = Command::new("wrk");
    command
        .args([
            "-t",
            "2",
            "-c",
            &clients.to_string(),
            "-d",
            &format!("{secs}s"),
        ])
        .args(["--timeout", "10s", "-s"])
        .arg(script);
    if let Some(cookie) = cookie {
        command.args(["-H", &format!("Cookie: {cookie}")]);
    }
    let output = command
        .arg(url)
        .output()
        .expect("run wrk (scripts/bench installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH "))
        .unwrap_or_else(|| panic!("wrk printed no report for {url}: {text}"));
    let n: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    Load {
        requests: n[0] as u64,
        rps: n[0] / (n[1] / 1e6),
        errors: n[2] as u64,
        p50_ms: n[3] / 1000.0,
        p95_ms: n[4] / 1000.0,
        p99_ms: n[5] / 1000.0,
    }
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Samples a process's resident memory every 20 ms until dropped; `peak()` is the highest seen.
struct RssWatch {
    peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl RssWatch {
    fn start(pid: u32) -> RssWatch {
        use std::sync::atomic::Ordering;
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let kib = (rss_mib(pid) * 1024.0) as u64;
                p.fetch_max(kib, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssWatch { peak, stop }
    }

    fn peak(&self) -> f64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1024.0
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// The example configuration with the deploy timings a benchmark can wait for: staging and production approved on
/// request, production's bake long enough for a breach to roll it back, staging's 5 s so a deployment runs end
/// to end while viewers watch (a rollback is sent within 0.1 s of the bake starting), the old colour kept a second.
fn bench_config(dir: &Path) -> PathBuf {
    let path = dir.join("signalbox.toml");
    let text = std::fs::read_to_string(repo_root().join("signalbox.example.toml"))
        .unwrap()
        .replace("approvals_required = 1 ", "approvals_required = 0 ")
        .replace("typed_confirmation = true ", "typed_confirmation = false ")
        .replace("bake_secs = 600 ", "bake_secs = 900 ")
        .replace("bake_secs = 120", "bake_secs = 5")
        .replace("scale_down_delay_secs = 900 ", "scale_down_delay_secs = 1 ")
        .replace("scale_down_delay_secs = 60", "scale_down_delay_secs = 1")
        // Only the topology and health collectors poll AWS during the bench: fewer bursts to blur the counts.
        .replace("slo_refresh_secs = 300 ", "slo_refresh_secs = 3600 ")
        .replace("refresh_secs = 60 ", "refresh_secs = 3600 ");
    assert!(text.contains("bake_secs = 900 "));
    std::fs::write(&path, text).unwrap();
    path
}

fn start_console(port: u16, config: &Path, database_url: &str, idp: &Idp, moto: &Moto) -> Replica {
    Replica::spawn(
        BINARY,
        port,
        config,
        database_url,
        idp,
        moto,
        // A load generator would be answered 429 by the per-user limits.
        &[("RATE_LIMIT_ENABLED", "false")],
    )
}

async fn signed_in(base: &str, user: &str) -> (Browser, String) {
    let browser = Browser::new();
    assert_eq!(
        browser.sign_in(base, user, "/").await.status,
        200,
        "{user} signs in"
    );
    let session = browser
        .cookie("127.0.0.1", "signalbox_session")
        .expect("a session cookie");
    (browser, format!("signalbox_session={session}"))
}

/// Holds `n` live-update streams (`GET /live`) open, reading what arrives, until dropped.
struct Viewers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    events: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Viewers {
    async fn open(base: &str, cookie: &str, n: usize) -> Viewers {
        let events = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..n {
            let url = format!("{base}/live");
            let cookie = cookie.to_string();
            let events = events.clone();
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let Ok(mut response) = client.get(&url).header("cookie", cookie).send().await
                else {
                    return;
                };
                while let Ok(Some(chunk)) = response.chunk().await {
                    let n = chunk.windows(6).filter(|w| w == b"event:").count() as u64;
                    events.fetch_add(n.max(1), std::sync::atomic::Ordering::Relaxed);
                }
            }));
        }
        Viewers { tasks, events }
    }
}

impl Drop for Viewers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn wait_state(
    base: &str,
    token: &str,
    id: &str,
    state: &str,
    limit: Duration,
) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let detail = api(
            base,
            token,
            reqwest::Method::GET,
            &format!("/api/v1/deployments/{id}"),
            None,
        )
        .await;
        if detail["summary"]["state"] == state {
            return detail;
        }
        assert!(
            Instant::now() < deadline,
            "deployment {id} never reached {state}: {}",
            detail["summary"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deploy(base: &str, token: &str, environment: &str, version: &str) -> String {
    let release = api(
        base,
        token,
        reqwest::Method::POST,
        "/api/v1/releases",
        Some(serde_json::json!({"service": "api", "version": version, "image": format!("accunode-api:{version}")})),
    )
    .await;
    let requested = api(
        base,
        token,
        reqwest::Method::POST,
        "/api/v1/deployments",
        Some(serde_json::json!({"release": release["id"], "environment": environment})),
    )
    .await;
    requested["summary"]["id"].as_str().unwrap().to_string()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(quick));
}

async fn run(quick: bool) {
    let secs: u64 = if quick { 4 } else { 15 };
    let mut table = Table::default();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("report.lua");
    std::fs::write(&script, WRK_REPORT).unwrap();
    println!(
        "Signalbox benchmark ({} cores, {}):",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if quick { "quick" } else { "full" }
    );

    let moto = Moto::seeded(&repo_root().join("signalbox.example.toml"));
    moto.control(
        "/signalbox-moto/config",
        r#"{"backup_settle_secs": 0.2, "ecs_settle_secs": 0.2}"#,
    );
    let config = bench_config(dir.path());
    let (port, pg_port) = (free_port(), free_port());
    let bases = [
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{pg_port}"),
    ];
    let idp = Idp::start(&bases);
    let sqlite = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("signalbox.db").display()
    );
    let console = start_console(port, &config, &sqlite, &idp, &moto);
    wait_ready(&console.base).await;
    let pid = console.child.id();
    let base = console.base.clone();
    let (_vera, cookie) = signed_in(&base, "vera").await;
    // A collector round with data before measuring.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = rss_mib(pid);

    // Pages beside a bare axum handler sending the same number of bytes, in the same run.
    let overview = reqwest::Client::new()
        .get(format!("{base}/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(overview.status(), 200);
    let body_len = overview.text().await.unwrap().len();
    let bare = bare_axum(body_len).await;
    let watch = RssWatch::start(pid);
    let mut bare_rps = std::collections::BTreeMap::new();
    for clients in [50, 200] {
        let load = wrk(&format!("http://{bare}/"), clients, secs, None, &script);
        bare_rps.insert(clients, load.rps);
        table.add(
            format!("bare axum handler ({body_len} B), {clients} clients"),
            format!(
                "{:.0} req/s, p50 {:.1} ms, p99 {:.1} ms",
                load.rps, load.p50_ms, load.p99_ms
            ),
            "reference",
            None,
        );
    }
    for (name, path) in [
        ("Overview /", "/"),
        (
            "Health /env/production/service/api",
            "/env/production/service/api",
        ),
    ] {
        for clients in [50, 200] {
            let load = wrk(
                &format!("{base}{path}"),
                clients,
                secs,
                Some(&cookie),
                &script,
            );
            let ratio = load.rps / bare_rps[&clients];
            let (target, met) = if clients == 50 {
                (
                    "≥ 3,000 req/s, p99 ≤ 25 ms",
                    Some(load.rps >= 3000.0 && load.p99_ms <= 25.0 && load.errors == 0),
                )
            } else {
                ("no errors", Some(load.errors == 0))
            };
            table.add(
                format!("{name}, {clients} clients"),
                format!(
                    "{:.0} req/s ({:.1} % of bare), p50 {:.1} ms, p99 {:.1} ms, {} errors",
                    load.rps,
                    ratio * 100.0,
                    load.p50_ms,
                    load.p99_ms,
                    load.errors
                ),
                target,
                met,
            );
        }
    }
    let under_page_load = watch.peak();
    drop(watch);

    // Lighthouse in Debian's Chromium, desktop preset, signed in as vera.
    for (name, path) in [
        ("Overview", "/"),
        ("Health", "/env/production/service/api"),
        ("Deployments", "/deployments"),
    ] {
        match lighthouse(&format!("{base}{path}"), &cookie, dir.path()) {
            Some((performance, accessibility)) => table.add(
                format!("Lighthouse {name} {path}"),
                format!("performance {performance:.0}, accessibility {accessibility:.0}"),
                "reported",
                None,
            ),
            None => table.add(
                format!("Lighthouse {name} {path}"),
                "not run (scripts/bench installs it)",
                "reported",
                None,
            ),
        }
    }

    // AWS calls per minute with 1 and 200 live viewers: one shared collector, whatever the audience. A whole
    // minute even in a quick run: the collectors poll every 15 s, and a short window holds one round more or
    // less depending on where it falls (seen: 20 s windows holding one round, then two).
    let window = Duration::from_secs(60);
    let per_minute = |calls: u64| calls as f64 * 60.0 / window.as_secs_f64();
    let one = Viewers::open(&base, &cookie, 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = moto.aws_requests(true).await;
    tokio::time::sleep(window).await;
    let calls_one = moto.aws_requests(false).await;
    drop(one);
    let watch = RssWatch::start(pid);
    let many = Viewers::open(&base, &cookie, 200).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = moto.aws_requests(true).await;
    tokio::time::sleep(window).await;
    let calls_many = moto.aws_requests(false).await;
    let delivered = many.events.load(std::sync::atomic::Ordering::Relaxed);
    let under_viewers = watch.peak();
    drop(many);
    drop(watch);
    let growth = (calls_many as f64 - calls_one as f64) / (calls_one.max(1) as f64) * 100.0;
    table.add(
        "AWS calls per minute, 1 live viewer",
        format!("{:.0}", per_minute(calls_one)),
        "reference",
        None,
    );
    table.add(
        "AWS calls per minute, 200 live viewers",
        format!(
            "{:.0} ({growth:+.1} %; {delivered} updates delivered)",
            per_minute(calls_many)
        ),
        "≤ 5 % more than 1 viewer",
        Some(growth <= 5.0),
    );
    table.add(
        "resident memory, idle",
        format!("{idle:.1} MiB"),
        "≤ 50 MB",
        Some(idle <= 50.0 * 0.9537),
    );
    let loaded = under_page_load.max(under_viewers);
    table.add(
        "resident memory, peak under 200 clients / 200 viewers",
        format!("{loaded:.1} MiB"),
        "≤ 150 MB",
        Some(loaded <= 150.0 * 0.9537),
    );

    // Roll back: from the request to the listener change arriving at the emulator.
    let ci = admin_token(&base, &["releases:write", "deployments:request", "read"]).await;
    let (rita, _) = signed_in(&base, "rita").await;
    let mut rollbacks = Vec::new();
    for run in 0..(if quick { 2 } else { 5 }) {
        let id = deploy(&base, &ci, "staging", &format!("9.0.{run}")).await;
        wait_state(&base, &ci, &id, "baking", Duration::from_secs(120)).await;
        let _ = moto.aws_requests(true).await;
        let t0 = Instant::now();
        let page = rita
            .post_form(
                &format!("{base}/api/deployments/rollback"),
                &[("id", id.as_str()), ("action", "rollback_now")],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let t1 = moto
            .wait_for_call(
                "elasticloadbalancing:ModifyListener",
                1,
                Duration::from_secs(30),
            )
            .await
            .expect("the rollback switched the listener");
        rollbacks.push((t1 - t0).as_secs_f64() * 1000.0);
        wait_state(&base, &ci, &id, "rolled_back", Duration::from_secs(60)).await;
    }
    rollbacks.sort_by(f64::total_cmp);
    let worst = rollbacks.last().copied().unwrap_or(f64::NAN);
    table.add(
        format!(
            "\"roll back\" → listener switched ({} runs)",
            rollbacks.len()
        ),
        format!(
            "p50 {:.0} ms, max {worst:.0} ms",
            percentile(&rollbacks, 50.0)
        ),
        "≤ 1 s",
        Some(worst <= 1000.0),
    );

    // 200 viewers with live updates while a deployment runs end to end, and 200 clients loading its page
    // meanwhile: no errors, no stream lost, p99 within the seed's SLA (1,000 ms).
    let viewers = Viewers::open(&base, &cookie, 200).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = viewers.events.load(std::sync::atomic::Ordering::Relaxed);
    let t0 = Instant::now();
    let id = deploy(&base, &ci, "staging", "9.2.0").await;
    let page = format!("{base}/deployments/{id}");
    let (page_cookie, page_script) = (cookie.clone(), script.clone());
    let load =
        tokio::task::spawn_blocking(move || wrk(&page, 200, 20, Some(&page_cookie), &page_script));
    let finished = wait_state(&base, &ci, &id, "done", Duration::from_secs(120)).await;
    let took = t0.elapsed();
    let load = load.await.unwrap();
    let delivered = viewers.events.load(std::sync::atomic::Ordering::Relaxed) - before;
    let lost = viewers.tasks.iter().filter(|t| t.is_finished()).count();
    drop(viewers);
    let steps = finished["steps"].as_array().map_or(0, |s| s.len());
    table.add(
        "200 live viewers + 200 clients on the page during a deployment",
        format!(
            "deployment done in {:.1} s ({steps} steps); page {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {} errors; \
             {delivered} updates delivered, {lost} streams lost",
            took.as_secs_f64(),
            load.rps,
            load.p50_ms,
            load.p99_ms,
            load.errors
        ),
        "no errors, p99 ≤ 1,000 ms (seed SLA)",
        Some(load.errors == 0 && lost == 0 && load.p99_ms <= 1000.0),
    );

    // A breach becomes visible in the metrics (six degraded minutes published at once) → the automatic
    // rollback's listener change. The gate's rule needs 2 minutes of 5xx > 5 %; the collector polls every 15 s.
    let id = deploy(&base, &ci, "production", "9.1.0").await;
    let detail = wait_state(&base, &ci, &id, "baking", Duration::from_secs(120)).await;
    let to = detail["plan"]["to_colour"].as_str().unwrap().to_string();
    let _ = moto.aws_requests(true).await;
    let run_dir = tempfile::tempdir().unwrap();
    moto.publish_five_percent_breach("production", "api", &to, run_dir.path());
    let t0 = Instant::now();
    let breach = moto
        .wait_for_call(
            "elasticloadbalancing:ModifyListener",
            1,
            Duration::from_secs(120),
        )
        .await;
    match breach {
        Some(t1) => table.add(
            "breach in the metrics → automatic rollback switched",
            format!("{:.1} s (collector every 15 s)", (t1 - t0).as_secs_f64()),
            "within the seed's 2 min",
            Some((t1 - t0) <= Duration::from_secs(120)),
        ),
        None => table.add(
            "breach in the metrics → automatic rollback switched",
            "no rollback within 120 s",
            "within the seed's 2 min",
            Some(false),
        ),
    }
    drop(console);

    // PostgreSQL with 100k deployments and 1M audit events.
    let database = support::postgres::create_database().await;
    let seeded = seed_history(
        &database.url,
        if quick { 10_000 } else { 100_000 },
        if quick { 100_000 } else { 1_000_000 },
    )
    .await;
    println!(
        "  (seeded {} deployments and {} audit events in {:.0} s)",
        seeded.deployments,
        seeded.events,
        seeded.took.as_secs_f64()
    );
    let pg = start_console(pg_port, &config, &database.url, &idp, &moto);
    wait_ready(&pg.base).await;
    let (_audrey, auditor) = signed_in(&pg.base, "audrey").await;
    let deep = seeded.deployments as i64 / 2;
    let pages = [
        (
            "history, production/api done",
            "/deployments?environment=production&service=api&state=done".to_string(),
        ),
        (
            "history, page 1,000 deep (keyset)",
            format!("/deployments?environment=production&before={deep}"),
        ),
        (
            "audit, one actor and action",
            "/audit?actor=user-07&action=deployment".to_string(),
        ),
        (
            "audit, one deployment's events",
            format!("/audit?target=deployment/dep-{:06}", seeded.deployments / 3),
        ),
        (
            "audit, one environment and a month",
            "/audit?environment=staging&from=2026-03-01&until=2026-04-01".to_string(),
        ),
    ];
    for (name, path) in pages {
        let load = wrk(
            &format!("{}{path}", pg.base),
            10,
            secs.min(10),
            Some(&auditor),
            &script,
        );
        table.add(
            format!(
                "{name} (PostgreSQL, {}k deployments / {}k events)",
                seeded.deployments / 1000,
                seeded.events / 1000
            ),
            format!(
                "p95 {:.1} ms, {:.0} req/s, {} errors",
                load.p95_ms, load.rps, load.errors
            ),
            "p95 ≤ 20 ms",
            Some(load.p95_ms <= 20.0 && load.errors == 0 && load.requests > 0),
        );
    }
    let pg_pid = pg.child.id();
    let before_export = rss_mib(pg_pid);
    let watch = RssWatch::start(pg_pid);
    let t0 = Instant::now();
    let mut export = reqwest::Client::new()
        .get(format!("{}/audit/export.csv", pg.base))
        .header("cookie", &auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let mut lines = 0u64;
    while let Some(chunk) = export.chunk().await.unwrap() {
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let took = t0.elapsed().as_secs_f64();
    let rows = lines.saturating_sub(1);
    let peak = watch.peak();
    drop(watch);
    table.add(
        format!("CSV export of {}k events", rows / 1000),
        format!(
            "{:.0} rows/s ({took:.1} s), peak RSS {peak:.1} MiB ({:+.1} MiB)",
            rows as f64 / took,
            peak - before_export
        ),
        "≥ 200k rows/s, < 100 MB",
        // The console adds its own events (sign-ins) to the seeded ones.
        Some(rows as f64 / took >= 200_000.0 && peak < 100.0 * 0.9537 && rows >= seeded.events),
    );
    let t0 = Instant::now();
    let verify = Command::new(BINARY)
        .arg("audit-verify")
        .env("SIGNALBOX_CONFIG", &config)
        .env("DATABASE_URL", &database.url)
        .env("SIGNALBOX_OIDC_ISSUER", &idp.issuer)
        .env("SIGNALBOX_OIDC_CLIENT_SECRET", "signalbox-demo-secret")
        .env("LOG_LEVEL", "warn")
        .output()
        .unwrap();
    let took = t0.elapsed().as_secs_f64();
    let said = String::from_utf8_lossy(&verify.stdout).trim().to_string();
    table.add(
        format!("audit chain verification, {}k events", seeded.events / 1000),
        format!("{took:.2} s ({said})"),
        "≤ 5 s, intact",
        Some(took <= 5.0 && verify.status.success()),
    );
    drop(pg);
    support::postgres::drop_database(&database).await;

    // The browser's download: the entry module every page needs, then what a first visit to a page adds (its
    // route's lazily loaded chunks, listed in the split manifest).
    match WasmDownload::read() {
        Some(wasm) => {
            table.add(
                "wasm entry module, gzip -9",
                format!(
                    "{:.1} KiB ({:.1} KiB raw)",
                    wasm.entry_gz as f64 / 1024.0,
                    wasm.entry_raw as f64 / 1024.0
                ),
                "≤ 250 KB",
                Some(wasm.entry_gz <= 250_000),
            );
            for (page, route) in [
                ("Overview", "overview"),
                ("Health page", "service"),
                ("deployment page", "deployment"),
            ] {
                let Some((chunks, chunks_gz)) = wasm.route_chunks(route) else {
                    table.add(
                        format!("wasm to hydrate the {page}"),
                        "not in the split manifest",
                        "≤ 250 KB",
                        Some(false),
                    );
                    continue;
                };
                let total = wasm.entry_gz + chunks_gz;
                table.add(
                    format!("wasm to hydrate the {page} (entry + {chunks} chunks)"),
                    format!("{:.1} KiB", total as f64 / 1024.0),
                    "≤ 250 KB",
                    Some(total <= 250_000),
                );
            }
        }
        None => table.add(
            "wasm entry module, gzip -9",
            "not built (run scripts/bench)",
            "≤ 250 KB",
            Some(false),
        ),
    }

    let header = format!(
        "Signalbox benchmark, {} ({}; {} cores; took {:.0} s)",
        time::OffsetDateTime::now_utc().date(),
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        started.elapsed().as_secs_f64()
    );
    let out = repo_root().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("results.md"), table.markdown(&header)).unwrap();
    println!("written to target/bench/results.md");
}

/// Lighthouse's performance and accessibility scores (0–100) for `url`, or `None` when it is not installed.
fn lighthouse(url: &str, cookie: &str, dir: &Path) -> Option<(f64, f64)> {
    let binary = std::env::var("SIGNALBOX_LIGHTHOUSE").ok()?;
    let report = dir.join("lighthouse.json");
    let status = Command::new(binary)
        .arg(url)
        .args(["--preset=desktop", "--only-categories=performance,accessibility", "--output=json", "--quiet"])
        .arg(format!("--output-path={}", report.display()))
        .arg("--chrome-flags=--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync")
        .arg(format!("--extra-headers={}", serde_json::json!({ "Cookie": cookie })))
        .env("CHROME_PATH", "/usr/bin/chromium")
        .status()
        .ok()?;
    if !status.success() {
        return None;
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).ok()?).ok()?;
    let score = |category: &str| {
        json["categories"][category]["score"]
            .as_f64()
            .map(|s| s * 100.0)
    };
    Some((score("performance")?, score("accessibility")?))
}

/// An axum server with one handler answering `len` bytes of HTML: what the machine does without Signalbox.
async fn bare_axum(len: usize) -> std::net::SocketAddr {
    let body: &'static str = Box::leak("x".repeat(len).into_boxed_str());
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(body) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The wasm as `cargo leptos build --split` leaves it in target/site/pkg.
struct WasmDownload {
    pkg: PathBuf,
    entry_raw: u64,
    entry_gz: u64,
    /// Split point (`__<route>_route_view_<hash>`) → the chunk files it loads.
    manifest: std::collections::HashMap<String, Vec<String>>,
}

impl WasmDownload {
    fn read() -> Option<Self> {
        let pkg = repo_root().join("target/site/pkg");
        let entry = pkg.join("signalbox.wasm");
        let manifest = std::fs::read_to_string(pkg.join("__wasm_split_manifest.json")).ok()?;
        Some(Self {
            entry_raw: std::fs::metadata(&entry).ok()?.len(),
            entry_gz: gzip_size(&entry)?,
            manifest: serde_json::from_str(&manifest).ok()?,
            pkg,
        })
    }

    /// How many chunk files the route's first visit loads, and their gzip sizes summed.
    fn route_chunks(&self, route: &str) -> Option<(usize, u64)> {
        let prefix = format!("__{route}_route_view_");
        let (_, chunks) = self
            .manifest
            .iter()
            .find(|(split, _)| split.starts_with(&prefix))?;
        let mut total = 0;
        for chunk in chunks {
            total += gzip_size(&self.pkg.join(format!("{chunk}.wasm")))?;
        }
        Some((chunks.len(), total))
    }
}

fn gzip_size(file: &Path) -> Option<u64> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -9 -c '{}' | wc -c", file.display()))
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

struct Seeded {
    deployments: u64,
    events: u64,
    took: Duration,
}

/// Writes `deployments` finished deployments (with their releases) and `events` chained audit events straight
/// into a migrated PostgreSQL database, in batches: the history a console has after years of use.
async fn seed_history(url: &str, deployments: u64, events: u64) -> Seeded {
    use sqlx::Executor;
    let t0 = Instant::now();
    // Connecting runs the migrations.
    drop(
        server::storage::connect(&support::database_config(url))
            .await
            .unwrap(),
    );
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap();
    let plan = serde_json::json!({
        "environment": "production", "service": "api", "release_id": "rel-000001", "release_version": "1.0.1",
        "from_colour": "blue", "to_colour": "green", "live_task_definition": "accunode-production-api-blue:7",
        "live_task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/accunode-production-api-blue:7",
        "new_family": "accunode-production-api-green", "image": "accunode-api:1.0.1", "desired_count": 4,
        "diff": [{"field": "image", "before": "accunode-api:1.0.0", "after": "accunode-api:1.0.1"}],
        "snapshots": ["signalbox-dep-000001-db", "signalbox-dep-000001-redis"],
        "gates": ["5xx > 5.0 % for 2 min"], "weights": [100], "pause_secs": 60, "bake_secs": 600,
        "scale_down_delay_secs": 900, "ready_timeout_secs": 900, "approvals_required": 1,
        "typed_confirmation": true, "frozen": null
    })
    .to_string();
    pool.execute(
        format!(
            "INSERT INTO releases (id, service, version, image, digest, commit_sha, notes, ticket_url, change,
                                   registered_by, registered_at)
             SELECT 'rel-' || lpad(g::text, 6, '0'), CASE WHEN g % 2 = 0 THEN 'api' ELSE 'worker' END,
                    '1.' || g, 'accunode:1.' || g, NULL, md5(g::text), 'release ' || g, NULL, '{{}}', 'token:ci',
                    timestamptz '2025-01-01' + g * interval '1 hour'
             FROM generate_series(1, {}) g",
            deployments / 10
        )
        .as_str(),
    )
    .await
    .unwrap();
    pool.execute(
        format!(
            "INSERT INTO deployments (id, environment, service, release_id, state, from_colour, to_colour,
                                      requested_by, requested_by_name, requested_at, approvals_required, plan,
                                      next_run_at, updated_at, finished_at)
             SELECT 'dep-' || lpad(g::text, 6, '0'),
                    CASE WHEN g % 3 = 0 THEN 'staging' ELSE 'production' END,
                    CASE WHEN g % 2 = 0 THEN 'api' ELSE 'worker' END,
                    'rel-' || lpad((1 + g % {releases})::text, 6, '0'),
                    (ARRAY['done', 'done', 'done', 'done', 'rolled_back', 'failed', 'cancelled', 'rejected'])[1 + g % 8],
                    CASE WHEN g % 2 = 0 THEN 'blue' ELSE 'green' END, CASE WHEN g % 2 = 0 THEN 'green' ELSE 'blue' END,
                    'user-' || lpad((g % 40)::text, 2, '0'), 'User ' || (g % 40),
                    timestamptz '2025-01-01' + g * interval '5 minutes', 1, $1, 0,
                    timestamptz '2025-01-01' + g * interval '5 minutes' + interval '20 minutes',
                    timestamptz '2025-01-01' + g * interval '5 minutes' + interval '20 minutes'
             FROM generate_series(1, {deployments}) g",
            releases = deployments / 10
        )
        .as_str()
        .replace("$1", &format!("'{}'", plan.replace('\'', "''")))
        .as_str(),
    )
    .await
    .unwrap();

    // The audit trail, chained as the console chains it, a year of events.
    const BATCH: u64 = 5_000;
    const ACTIONS: [&str; 6] = [
        "deployment.request",
        "deployment.approve",
        "deployment.state",
        "deployment.switch",
        "health.view",
        "auth.sign_in",
    ];
    let first = time::macros::datetime!(2026-01-01 0:00 UTC);
    let step = time::Duration::seconds(31_536_000 / events.max(1) as i64);
    let mut prev: Option<(i64, String)> = None;
    let mut n = 0u64;
    while n < events {
        let mut columns: Vec<Vec<String>> = vec![Vec::new(); 14];
        let mut seqs: Vec<i64> = Vec::new();
        for _ in 0..BATCH.min(events - n) {
            let i = n as usize;
            let record = app::dto::AuditRecord {
                actor: format!("user-{:02}", i % 40),
                actor_kind: "user".into(),
                authority: "approver".into(),
                action: ACTIONS[i % ACTIONS.len()].into(),
                target: format!("deployment/dep-{:06}", 1 + (i / 10) as u64 % deployments),
                environment: Some(
                    if i.is_multiple_of(3) {
                        "staging"
                    } else {
                        "production"
                    }
                    .into(),
                ),
                parameters: format!(r#"{{"step":{}}}"#, i % 9),
                outcome: app::dto::Outcome::Allowed,
                reason: String::new(),
                request_id: format!("req-{i}"),
                client_addr: "127.0.0.1".into(),
            };
            let event = server::audit::chain::seal(record, prev.take(), first + step * (i as i32));
            prev = Some((event.seq, event.hash.clone()));
            seqs.push(event.seq);
            let r = event.record;
            for (column, value) in columns.iter_mut().zip([
                event.occurred_at,
                r.actor,
                r.actor_kind,
                r.authority,
                r.action,
                r.target,
                r.environment.unwrap_or_default(),
                r.parameters,
                r.outcome.as_str().to_string(),
                r.reason,
                r.request_id,
                r.client_addr,
                event.prev_hash,
                event.hash,
            ]) {
                column.push(value);
            }
            n += 1;
        }
        sqlx::query(
            "INSERT INTO audit_events (seq, occurred_at, actor, actor_kind, authority, action, target, environment,
                                       parameters, outcome, reason, request_id, client_addr, prev_hash, hash)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                                  $13::text[], $14::text[], $15::text[])",
        )
        .bind(&seqs)
        .bind(&columns[0])
        .bind(&columns[1])
        .bind(&columns[2])
        .bind(&columns[3])
        .bind(&columns[4])
        .bind(&columns[5])
        .bind(&columns[6])
        .bind(&columns[7])
        .bind(&columns[8])
        .bind(&columns[9])
        .bind(&columns[10])
        .bind(&columns[11])
        .bind(&columns[12])
        .bind(&columns[13])
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.execute("ANALYZE").await.unwrap();
    pool.close().await;
    Seeded {
        deployments,
        events,
        took: t0.elapsed(),
    }
}
