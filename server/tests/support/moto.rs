//! A real moto server (with the harness plugin, end2end/stack) on a free loopback port, started by the test
//! itself. It exits with the test process (`--exit-with-parent`), so nothing is left running.

use server::config::Config;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

fn python() -> PathBuf {
    let python = repo_root().join("end2end/.venv/bin/python");
    assert!(
        python.exists(),
        "the moto virtual environment is missing at {}: run `make tools` (or end2end/stack/setup) first",
        python.display()
    );
    python
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .unwrap()
        .port()
}

/// The SDK's default chain reads these: fake credentials, and no instance-metadata probing.
pub fn fake_aws_credentials() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::remove_var("AWS_PROFILE");
        std::env::remove_var("AWS_ENDPOINT_URL");
    });
}

pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts moto with ECS services settling almost at once (the tests do not wait for the rollout).
    pub fn start() -> Moto {
        fake_aws_credentials();
        let port = free_port();
        let child = Command::new(python())
            .arg(repo_root().join("end2end/stack/moto_launcher.py"))
            .args(["--port", &port.to_string(), "--exit-with-parent"])
            .env("SIGNALBOX_MOTO_ECS_SETTLE_SECS", "0.2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto");
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http_ok(port, "/signalbox-moto/health") {
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Starts moto and builds the topology of `config_file` in it (the same seeder as the demo).
    pub fn seeded(config_file: &Path) -> Moto {
        let moto = Moto::start();
        moto.seed(config_file);
        moto
    }

    pub fn seed(&self, config_file: &Path) {
        let output = Command::new(python())
            .arg(repo_root().join("end2end/stack/seed.py"))
            .args(["--endpoint", &self.endpoint])
            .arg(config_file)
            .output()
            .expect("run seed.py");
        assert!(
            output.status.success(),
            "seed.py failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The launcher's request counter: `total`, `by_service`, `by_operation` (zeroed first when `reset`).
    async fn request_counts(&self, reset: bool) -> serde_json::Value {
        let client = reqwest::Client::new();
        let request = match reset {
            true => client.post(format!("{}/signalbox-moto/requests/reset", self.endpoint)),
            false => client.get(format!("{}/signalbox-moto/requests", self.endpoint)),
        };
        let body = request
            .send()
            .await
            .expect("request counter")
            .text()
            .await
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    /// AWS requests moto has served since the last reset (counted by the harness's launcher).
    pub async fn aws_requests(&self, reset: bool) -> u64 {
        self.request_counts(reset).await["total"]
            .as_u64()
            .expect("a total")
    }

    /// Requests per `service:Operation` since the last reset, as the launcher counted them on arrival.
    pub async fn requests_by_operation(&self) -> std::collections::HashMap<String, u64> {
        self.request_counts(false).await["by_operation"]
            .as_object()
            .expect("by_operation")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect()
    }

    /// Waits until the emulator has received `at_least` requests for `operation` ("service:Operation", counted on
    /// arrival, before a fault holds them); when they had, or `None` after `limit`.
    pub async fn wait_for_call(
        &self,
        operation: &str,
        at_least: u64,
        limit: Duration,
    ) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let seen = self
                .requests_by_operation()
                .await
                .get(operation)
                .copied()
                .unwrap_or(0);
            if seen >= at_least {
                return Some(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }

    /// Runs the harness's traffic generator (end2end/stack/traffic.py) against this moto with the example
    /// configuration; its degrade/heal control file lives in `run_dir`.
    pub fn traffic(&self, args: &[&str], run_dir: &Path) -> String {
        let output = Command::new(python())
            .arg(repo_root().join("end2end/stack/traffic.py"))
            .args(args)
            .args(["--endpoint", &self.endpoint])
            .env(
                "SIGNALBOX_CONFIG",
                repo_root().join("signalbox.example.toml"),
            )
            .env("STACK_RUN_DIR", run_dir)
            .output()
            .expect("run traffic.py");
        assert!(
            output.status.success(),
            "traffic.py {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// One colour has been answering 7 % 5xx at a normal p95 (300 ms) for the last six minutes: degrades it in the
    /// traffic generator and publishes the six minutes at once. Enough for the gate's "5xx > 5 % for 2 min".
    pub fn publish_five_percent_breach(
        &self,
        environment: &str,
        service: &str,
        colour: &str,
        run_dir: &Path,
    ) {
        self.traffic(
            &[
                "degrade",
                environment,
                service,
                colour,
                "--error-rate",
                "0.07",
                "--p95-ms",
                "300",
            ],
            run_dir,
        );
        self.traffic(
            &[
                "run",
                "--once",
                "--backfill-minutes",
                "6",
                "--backfill-delay",
                "0",
            ],
            run_dir,
        );
    }

    /// Runs Python with boto3 against this moto: how tests change AWS behind the console's back.
    /// `boto3`, `json` and `ENDPOINT` are in scope.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3, json\nENDPOINT = {:?}\n\
             def client(service, region='us-east-1'):\n    \
             return boto3.client(service, region_name=region, endpoint_url=ENDPOINT, \
             aws_access_key_id='test', aws_secret_access_key='test')\n",
            self.endpoint
        );
        let output = Command::new(python())
            .arg("-c")
            .arg(format!("{prelude}{code}"))
            .output()
            .expect("run python");
        assert!(
            output.status.success(),
            "python failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// POSTs JSON to the harness plugin's control routes.
    pub fn control(&self, path: &str, body: &str) {
        self.python(&format!(
            "import urllib.request\n\
             req = urllib.request.Request(ENDPOINT + {path:?}, data={body:?}.encode(), method='POST', \
             headers={{'Content-Type': 'application/json'}})\n\
             urllib.request.urlopen(req).read()\n"
        ));
    }

    /// The example configuration with every environment pointed at this moto, fast retries and timeouts.
    pub fn example_config(&self) -> Config {
        let text = std::fs::read_to_string(repo_root().join("signalbox.example.toml"))
            .expect("example config");
        let env: HashMap<String, String> = [
            ("SIGNALBOX_AWS_MAX_ATTEMPTS", "1"),
            ("SIGNALBOX_AWS_CONNECT_TIMEOUT_MS", "1000"),
            ("SIGNALBOX_AWS_ATTEMPT_TIMEOUT_MS", "5000"),
            ("SIGNALBOX_AWS_OPERATION_TIMEOUT_MS", "8000"),
            ("SIGNALBOX_POLL_INTERVAL_SECS", "1"),
            ("SIGNALBOX_OIDC_CLIENT_SECRET", "signalbox-demo-secret"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut config = Config::from_toml(&text, &env).expect("example config");
        for environment in &mut config.environments {
            environment.endpoint_url = Some(self.endpoint.clone());
        }
        config
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
}
