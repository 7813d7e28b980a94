//! Configuration in layers: built-in defaults → TOML file → environment variables. The seed's variable names are
//! kept where they apply (DATABASE_URL, DATABASE_POOL_SIZE, DATABASE_POOL_TIMEOUT, LOG_LEVEL, AWS_REGION,
//! AWS_PARAMETER_STORE_PREFIX). Anything invalid is reported with the key that is wrong and why.

use crate::secret::DatabaseUrl;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use app::dto::Colour;

mod backups;
mod deploy;
mod health;
mod identity;
pub mod notify;
pub use deploy::{DeployPolicy, EngineConfig, FreezeWindow};
pub use identity::{ClientSecretSource, IdentityConfig, SecurityConfig};

/// The gate's rules when `[health]` sets nothing: the seed's thresholds, written once in `config/health.rs`.
pub fn default_health_rules() -> Vec<crate::health::gate::Rule> {
    health::resolve_health(health::FileHealth::default()).expect("the default thresholds are valid")
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub aws: AwsConfig,
    /// Single sign-on; `None` when no issuer is configured, and then the console refuses to start.
    pub identity: Option<IdentityConfig>,
    pub security: SecurityConfig,
    /// The health gate's rules: the seed's thresholds unless `[health]` changes them.
    pub health_rules: Vec<crate::health::gate::Rule>,
    /// The availability objective: the seed's 99.9 % over 30 days unless `[health]` changes it.
    pub slo: crate::health::slo::SloSettings,
    /// The backup policy: the seed's unless `[backups]` changes it.
    pub backups: crate::backups::policy::BackupPolicy,
    pub engine: EngineConfig,
    pub notifications: notify::NotificationConfig,
    pub environments: Vec<EnvironmentConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: url::Url,
    pub data_dir: PathBuf,
    /// Where cargo-leptos put the stylesheet and the wasm (`target/site` by default).
    pub site_root: PathBuf,
    /// Pages rendered at once, the rest waiting in arrival order; `None`: no limit. See `http::render_queue`.
    pub render_slots: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: DatabaseUrl,
    pub pool_size: u32,
    pub pool_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
}

#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub region: Option<String>,
    pub parameter_store_prefix: Option<String>,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    pub attempt_timeout: Duration,
    pub max_attempts: u32,
    pub poll_interval: Duration,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentConfig {
    pub name: String,
    pub display_name: Option<String>,
    pub region: Option<String>,
    pub role_arn: Option<String>,
    pub endpoint_url: Option<String>,
    pub cluster: String,
    pub load_balancer: String,
    pub alarm_prefix: Option<String>,
    pub rds_instance: Option<String>,
    pub elasticache_cluster: Option<String>,
    pub parameter_store_prefix: Option<String>,
    pub dr_region: Option<String>,
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// Approvals, traffic steps, bake and freeze windows for deploys here.
    #[serde(default)]
    pub deploy: DeployPolicy,
}

impl EnvironmentConfig {
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub name: String,
    pub listener_port: u16,
    pub rule_priority: Option<u32>,
    pub blue: ColourConfig,
    pub green: ColourConfig,
}

impl ServiceConfig {
    pub fn colour(&self, colour: Colour) -> &ColourConfig {
        match colour {
            Colour::Blue => &self.blue,
            Colour::Green => &self.green,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColourConfig {
    pub ecs_service: String,
    pub target_group: String,
}

/// What went wrong, naming the key.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("configuration file {path} is not valid: {reason}")]
    Syntax { path: String, reason: String },
    #[error("invalid configuration: {key}: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

// The file as written: every field optional, so defaults and the environment can fill the gaps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    server: FileServer,
    #[serde(default)]
    database: FileDatabase,
    #[serde(default)]
    log: FileLog,
    #[serde(default)]
    aws: FileAws,
    #[serde(default)]
    identity: identity::FileIdentity,
    #[serde(default)]
    security: identity::FileSecurity,
    #[serde(default)]
    health: health::FileHealth,
    #[serde(default)]
    backups: backups::FileBackups,
    #[serde(default)]
    engine: deploy::FileEngine,
    #[serde(default)]
    notifications: notify::FileNotifications,
    #[serde(default)]
    environments: Vec<EnvironmentConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServer {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    site_root: Option<PathBuf>,
    render_slots: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: Option<String>,
    pool_size: Option<i64>,
    pool_timeout_secs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    level: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAws {
    region: Option<String>,
    parameter_store_prefix: Option<String>,
    connect_timeout_ms: Option<i64>,
    operation_timeout_ms: Option<i64>,
    attempt_timeout_ms: Option<i64>,
    max_attempts: Option<i64>,
    poll_interval_secs: Option<i64>,
}

/// The environment variable that names the configuration file.
pub const CONFIG_FILE_VAR: &str = "SIGNALBOX_CONFIG";
/// Used when SIGNALBOX_CONFIG is unset and the file exists.
pub const DEFAULT_CONFIG_FILE: &str = "signalbox.toml";

impl Config {
    /// Loads from the process environment and the file it names (or `signalbox.toml` if present).
    pub fn load_from_process() -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let file = match env.get(CONFIG_FILE_VAR) {
            Some(path) if !path.trim().is_empty() => Some(PathBuf::from(path)),
            _ => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        Config::load(file.as_deref(), &env)
    }

    /// Loads from an explicit file (if any) and an explicit set of environment variables.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let parsed = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                Config::parse_file(&text).map_err(|reason| ConfigError::Syntax {
                    path: path.display().to_string(),
                    reason,
                })?
            }
            None => FileConfig::default(),
        };
        resolve(parsed, env)
    }

    /// Parses TOML text alone (no file, no environment), for tests and `check-config`.
    pub fn from_toml(text: &str, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let parsed = Config::parse_file(text).map_err(|reason| ConfigError::Syntax {
            path: "<inline>".into(),
            reason,
        })?;
        resolve(parsed, env)
    }

    fn parse_file(text: &str) -> Result<FileConfig, String> {
        toml::from_str::<FileConfig>(text).map_err(|e| e.to_string().trim().replace('\n', " "))
    }

    pub fn environment(&self, name: &str) -> Option<&EnvironmentConfig> {
        self.environments.iter().find(|e| e.name == name)
    }

    /// The region an environment's clients use.
    pub fn region_of<'a>(&'a self, environment: &'a EnvironmentConfig) -> Option<&'a str> {
        environment.region.as_deref().or(self.aws.region.as_deref())
    }
}

/// Reads an environment variable over a file value, then parses it; errors name the variable.
fn layered_int(
    env: &HashMap<String, String>,
    var: &str,
    key: &str,
    file: Option<i64>,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ConfigError> {
    let (value, source) = match env.get(var).filter(|v| !v.trim().is_empty()) {
        Some(raw) => (
            raw.trim()
                .parse::<i64>()
                .map_err(|_| invalid(var, format!("expected a whole number, got {raw:?}")))?,
            var.to_string(),
        ),
        None => (file.unwrap_or(default), key.to_string()),
    };
    if !range.contains(&value) {
        return Err(invalid(
            source,
            format!(
                "must be between {} and {}, got {value}",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(value)
}

fn layered_string(
    env: &HashMap<String, String>,
    var: &str,
    file: Option<String>,
) -> Option<String> {
    env.get(var)
        .filter(|v| !v.trim().is_empty())
        .cloned()
        .or(file)
}

fn resolve(file: FileConfig, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
    let listen_raw = layered_string(env, "SIGNALBOX_LISTEN", file.server.listen)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listen: SocketAddr = listen_raw.parse().map_err(|_| {
        invalid(
            "server.listen (SIGNALBOX_LISTEN)",
            format!("expected an address like 127.0.0.1:3000, got {listen_raw:?}"),
        )
    })?;
    let public_raw = layered_string(env, "SIGNALBOX_PUBLIC_URL", file.server.public_url)
        .unwrap_or_else(|| format!("http://{listen}"));
    let public_url = url::Url::parse(&public_raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            invalid(
                "server.public_url (SIGNALBOX_PUBLIC_URL)",
                format!("expected an http(s) URL, got {public_raw:?}"),
            )
        })?;
    let data_dir = env
        .get("SIGNALBOX_DATA_DIR")
        .filter(|v| !v.trim().is_empty())
        .map(PathBuf::from)
        .or(file.server.data_dir)
        .unwrap_or_else(|| PathBuf::from("data"));
    let site_root = env
        .get("LEPTOS_SITE_ROOT")
        .filter(|v| !v.trim().is_empty())
        .map(PathBuf::from)
        .or(file.server.site_root)
        .unwrap_or_else(|| PathBuf::from("target/site"));
    // Two per core: on 2 cores one per core served the in-memory Health page best and two per core nearly as well;
    // the spare slots are for renders that wait on the database (README, "Then the waiting itself").
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let render_slots = layered_int(
        env,
        "SIGNALBOX_RENDER_SLOTS",
        "server.render_slots",
        file.server.render_slots,
        2 * cores as i64,
        0..=4096,
    )?;

    let db_url_raw = layered_string(env, "DATABASE_URL", file.database.url).unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("signalbox.db").display()
        )
    });
    let db_url = DatabaseUrl::new(db_url_raw);
    if !db_url.is_postgres() && !db_url.is_sqlite() {
        return Err(invalid(
            "database.url (DATABASE_URL)",
            format!(
                "expected a sqlite:// or postgres:// URL, got {}",
                db_url.redacted()
            ),
        ));
    }
    let pool_size = layered_int(
        env,
        "DATABASE_POOL_SIZE",
        "database.pool_size",
        file.database.pool_size,
        20,
        1..=1000,
    )?;
    let pool_timeout = layered_int(
        env,
        "DATABASE_POOL_TIMEOUT",
        "database.pool_timeout_secs",
        file.database.pool_timeout_secs,
        30,
        1..=3600,
    )?;

    let level = layered_string(env, "LOG_LEVEL", file.log.level).unwrap_or_else(|| "info".into());
    let level = level.to_ascii_lowercase();
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        return Err(invalid(
            "log.level (LOG_LEVEL)",
            format!("expected error, warn, info, debug, trace or a tracing filter, got {level:?}"),
        ));
    }

    let aws = AwsConfig {
        region: layered_string(env, "AWS_REGION", file.aws.region),
        parameter_store_prefix: layered_string(
            env,
            "AWS_PARAMETER_STORE_PREFIX",
            file.aws.parameter_store_prefix,
        ),
        connect_timeout: millis(layered_int(
            env,
            "SIGNALBOX_AWS_CONNECT_TIMEOUT_MS",
            "aws.connect_timeout_ms",
            file.aws.connect_timeout_ms,
            3_000,
            10..=120_000,
        )?),
        operation_timeout: millis(layered_int(
            env,
            "SIGNALBOX_AWS_OPERATION_TIMEOUT_MS",
            "aws.operation_timeout_ms",
            file.aws.operation_timeout_ms,
            10_000,
            10..=600_000,
        )?),
        attempt_timeout: millis(layered_int(
            env,
            "SIGNALBOX_AWS_ATTEMPT_TIMEOUT_MS",
            "aws.attempt_timeout_ms",
            file.aws.attempt_timeout_ms,
            4_000,
            10..=600_000,
        )?),
        max_attempts: layered_int(
            env,
            "SIGNALBOX_AWS_MAX_ATTEMPTS",
            "aws.max_attempts",
            file.aws.max_attempts,
            3,
            1..=10,
        )? as u32,
        poll_interval: Duration::from_secs(layered_int(
            env,
            "SIGNALBOX_POLL_INTERVAL_SECS",
            "aws.poll_interval_secs",
            file.aws.poll_interval_secs,
            15,
            1..=3600,
        )? as u64),
    };
    if let Some(region) = &aws.region {
        check_region("aws.region (AWS_REGION)", region)?;
    }

    validate_environments(&file.environments, aws.region.is_some())?;
    let identity = identity::resolve_identity(file.identity, env, &public_url)?;
    let security = identity::resolve_security(file.security, env)?;
    let slo = health::resolve_slo(&file.health)?;
    let backups = backups::resolve_backups(file.backups)?;
    let engine = deploy::resolve_engine(file.engine, env)?;
    let notifications = notify::resolve_notifications(file.notifications, env)?;
    for environment in &file.environments {
        environment.deploy.validate(&environment.name)?;
    }
    let health_rules = health::resolve_health(file.health)?;

    Ok(Config {
        server: ServerConfig {
            listen,
            public_url,
            data_dir,
            site_root,
            render_slots: (render_slots > 0).then_some(render_slots as usize),
        },
        database: DatabaseConfig {
            url: db_url,
            pool_size: pool_size as u32,
            pool_timeout: Duration::from_secs(pool_timeout as u64),
        },
        log: LogConfig { level },
        aws,
        identity,
        security,
        health_rules,
        slo,
        backups,
        engine,
        notifications,
        environments: file.environments,
    })
}

fn millis(value: i64) -> Duration {
    Duration::from_millis(value as u64)
}

/// Names appear in URLs: lower-case letters, digits and dashes.
fn check_slug(key: &str, value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("expected lower-case letters, digits and dashes (at most 64), got {value:?}"),
        ))
    }
}

fn check_region(key: &str, value: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = value.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("expected an AWS region like us-east-1, got {value:?}"),
        ))
    }
}

fn check_present(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(invalid(key, "must not be empty"))
    } else {
        Ok(())
    }
}

fn validate_environments(
    environments: &[EnvironmentConfig],
    has_default_region: bool,
) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for (i, environment) in environments.iter().enumerate() {
        let at = format!("environments[{i}]");
        check_slug(&format!("{at}.name"), &environment.name)?;
        if !names.insert(environment.name.as_str()) {
            return Err(invalid(
                format!("{at}.name"),
                format!("environment {:?} is defined twice", environment.name),
            ));
        }
        match &environment.region {
            Some(region) => check_region(&format!("{at}.region"), region)?,
            None if !has_default_region => {
                return Err(invalid(
                    format!("{at}.region"),
                    "no region: set it here, or aws.region / AWS_REGION for all environments",
                ))
            }
            None => {}
        }
        if let Some(region) = &environment.dr_region {
            check_region(&format!("{at}.dr_region"), region)?;
        }
        if let Some(endpoint) = &environment.endpoint_url {
            if url::Url::parse(endpoint).is_err() {
                return Err(invalid(
                    format!("{at}.endpoint_url"),
                    format!("not a URL: {endpoint:?}"),
                ));
            }
        }
        if let Some(role) = &environment.role_arn {
            if !role.starts_with("arn:") || !role.contains(":role/") {
                return Err(invalid(
                    format!("{at}.role_arn"),
                    format!(
                        "expected an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got {role:?}"
                    ),
                ));
            }
        }
        check_present(&format!("{at}.cluster"), &environment.cluster)?;
        check_present(&format!("{at}.load_balancer"), &environment.load_balancer)?;
        let mut services = HashSet::new();
        for (j, service) in environment.services.iter().enumerate() {
            let at = format!("{at}.services[{j}]");
            check_slug(&format!("{at}.name"), &service.name)?;
            if !services.insert(service.name.as_str()) {
                return Err(invalid(
                    format!("{at}.name"),
                    format!(
                        "service {:?} is defined twice in {}",
                        service.name, environment.name
                    ),
                ));
            }
            if service.listener_port == 0 {
                return Err(invalid(
                    format!("{at}.listener_port"),
                    "must be a port from 1 to 65535",
                ));
            }
            if service.rule_priority == Some(0) || service.rule_priority.is_some_and(|p| p > 50_000)
            {
                return Err(invalid(
                    format!("{at}.rule_priority"),
                    "must be from 1 to 50000",
                ));
            }
            for colour in [Colour::Blue, Colour::Green] {
                let c = service.colour(colour);
                let at = format!("{at}.{colour}");
                check_present(&format!("{at}.ecs_service"), &c.ecs_service)?;
                check_present(&format!("{at}.target_group"), &c.target_group)?;
                if c.target_group.len() > 32 {
                    return Err(invalid(
                        format!("{at}.target_group"),
                        format!(
                            "target group names have at most 32 characters; {:?} has {}",
                            c.target_group,
                            c.target_group.len()
                        ),
                    ));
                }
            }
            if service.blue.ecs_service == service.green.ecs_service {
                return Err(invalid(
                    format!("{at}.green.ecs_service"),
                    "blue and green must be different ECS services",
                ));
            }
            if service.blue.target_group == service.green.target_group {
                return Err(invalid(
                    format!("{at}.green.target_group"),
                    "blue and green must be different target groups",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const EXAMPLE: &str = include_str!("../../signalbox.example.toml");

    #[test]
    fn the_example_file_is_valid_and_describes_the_reference_stack() {
        let config = Config::from_toml(EXAMPLE, &env(&[("SIGNALBOX_OIDC_CLIENT_SECRET", "s")]))
            .expect("example config is valid");
        let identity = config
            .identity
            .as_ref()
            .expect("the demo IdP is configured");
        assert_eq!(
            identity.redirect_url.as_str(),
            "http://127.0.0.1:3000/auth/callback"
        );
        assert!(
            !identity.cookie_secure,
            "plain http on 127.0.0.1 is the one place without Secure"
        );
        assert_eq!(
            identity.roles_for(&["signalbox-approvers".into(), "unknown".into()]),
            [app::auth::Role::Approver]
        );
        assert_eq!(config.security.per_user_per_minute, 100);
        let names: Vec<_> = config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["production", "staging"]);
        let production = config.environment("production").unwrap();
        assert_eq!(production.services.len(), 2);
        assert_eq!(
            production.service("worker").unwrap().rule_priority,
            Some(10)
        );
        assert_eq!(config.database.pool_size, 20);
        assert_eq!(config.aws.poll_interval, Duration::from_secs(15));
    }

    #[test]
    fn defaults_apply_without_a_file() {
        let config = Config::load(None, &env(&[])).unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:3000");
        assert!(config.database.url.is_sqlite());
        assert!(config.database.url.expose().contains("data/signalbox.db"));
        assert_eq!(config.log.level, "info");
        assert!(config.environments.is_empty());
    }

    #[test]
    fn environment_overrides_file_which_overrides_defaults() {
        let text = "[database]\npool_size = 7\n[log]\nlevel = \"debug\"\n";
        let config = Config::from_toml(text, &env(&[])).unwrap();
        assert_eq!(config.database.pool_size, 7);
        assert_eq!(config.log.level, "debug");
        let config = Config::from_toml(
            text,
            &env(&[
                ("DATABASE_POOL_SIZE", "9"),
                ("LOG_LEVEL", "WARN"),
                ("DATABASE_URL", "postgres://u:pw@127.0.0.1/db"),
            ]),
        )
        .unwrap();
        assert_eq!(config.database.pool_size, 9);
        assert_eq!(config.log.level, "warn");
        assert!(config.database.url.is_postgres());
    }

    #[test]
    fn render_slots_default_to_two_per_core_and_zero_lifts_the_limit() {
        let cores = std::thread::available_parallelism().unwrap().get();
        let config = Config::from_toml("", &env(&[])).unwrap();
        assert_eq!(config.server.render_slots, Some(2 * cores));
        let config = Config::from_toml("[server]\nrender_slots = 3\n", &env(&[])).unwrap();
        assert_eq!(config.server.render_slots, Some(3));
        let config = Config::from_toml(
            "[server]\nrender_slots = 3\n",
            &env(&[("SIGNALBOX_RENDER_SLOTS", "0")]),
        )
        .unwrap();
        assert_eq!(config.server.render_slots, None);
    }

    #[test]
    fn invalid_values_name_the_key() {
        // (file text, environment variables, the key the error must name)
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("", &[("DATABASE_POOL_SIZE", "lots")], "DATABASE_POOL_SIZE"),
            ("", &[("DATABASE_POOL_SIZE", "0")], "DATABASE_POOL_SIZE"),
            ("[database]\npool_size = 0\n", &[], "database.pool_size"),
            ("", &[("DATABASE_URL", "mysql://x")], "database.url"),
            ("", &[("SIGNALBOX_LISTEN", "nowhere")], "server.listen"),
            (
                "",
                &[("SIGNALBOX_RENDER_SLOTS", "-1")],
                "SIGNALBOX_RENDER_SLOTS",
            ),
            ("[server]\nrender_slots = \"many\"\n", &[], "render_slots"),
            ("", &[("AWS_REGION", "moon")], "aws.region"),
            ("", &[("LOG_LEVEL", "[[[")], "log.level"),
        ];
        for (text, vars, key) in cases {
            let err = Config::from_toml(text, &env(vars)).unwrap_err();
            assert!(err.to_string().contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn environment_mistakes_name_the_key() {
        let broken = [
            (
                EXAMPLE.replacen("name = \"staging\"", "name = \"production\"", 1),
                "environments[1].name",
            ),
            (
                EXAMPLE.replacen("name = \"production\"", "name = \"Prod Env\"", 1),
                "environments[0].name",
            ),
            (
                EXAMPLE.replacen("region = \"us-east-2\"", "region = \"east\"", 1),
                "environments[1].region",
            ),
            (
                EXAMPLE.replacen("accunode-prod-api-green", "accunode-prod-api-blue", 1),
                "environments[0].services[0].green.target_group",
            ),
            (
                EXAMPLE.replacen("listener_port = 80", "listener_port = 0", 1),
                "environments[0].services[0].listener_port",
            ),
        ];
        for (text, key) in broken {
            let err = Config::from_toml(&text, &env(&[])).unwrap_err();
            assert!(err.to_string().contains(key), "{err} should name {key}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_syntax_are_refused_with_the_key() {
        let err = Config::from_toml("[database]\npool_sise = 3\n", &env(&[])).unwrap_err();
        assert!(err.to_string().contains("pool_sise"), "{err}");
        let err = Config::from_toml("[server\n", &env(&[])).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
    }

    #[test]
    fn identity_mistakes_name_the_key() {
        let secret = ("SIGNALBOX_OIDC_CLIENT_SECRET", "s");
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("[identity]\nissuer = \"http://idp\"\n", &[secret], "identity.client_id"),
            ("[identity]\nissuer = \"http://idp\"\nclient_id = \"c\"\n", &[], "identity.client_secret"),
            ("[identity]\nissuer = \"not a url\"\nclient_id = \"c\"\n", &[secret], "identity.issuer"),
            (
                "[identity]\nissuer = \"http://idp\"\nclient_id = \"c\"\n[identity.roles]\nops = [\"superuser\"]\n",
                &[secret],
                "identity.roles.\"ops\"",
            ),
            ("", &[("DEFAULT_RATE_LIMIT", "fast")], "DEFAULT_RATE_LIMIT"),
            (
                "[identity]\nissuer = \"http://idp\"\nclient_id = \"c\"\n",
                &[secret, ("SIGNALBOX_COOKIE_SECURE", "maybe")],
                "SIGNALBOX_COOKIE_SECURE",
            ),
        ];
        for (text, vars, key) in cases {
            let error = Config::from_toml(text, &env(vars)).unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
        let public = "[server]\npublic_url = \"https://signalbox.example.com\"\n[identity]\nissuer = \"https://idp\"\nclient_id = \"c\"\n";
        let config = Config::from_toml(public, &env(&[secret])).unwrap();
        assert!(
            config.identity.unwrap().cookie_secure,
            "anywhere but localhost the cookie is Secure"
        );
    }

    #[test]
    fn a_region_is_required_somewhere() {
        let text = "[[environments]]\nname = \"prod\"\ncluster = \"c\"\nload_balancer = \"lb\"\n";
        let err = Config::from_toml(text, &env(&[])).unwrap_err();
        assert!(err.to_string().contains("environments[0].region"), "{err}");
        assert!(Config::from_toml(text, &env(&[("AWS_REGION", "eu-west-1")])).is_ok());
    }

    #[test]
    fn debug_output_redacts_the_database_password() {
        let config = Config::from_toml(
            "",
            &env(&[("DATABASE_URL", "postgres://app:topsecret@127.0.0.1/db")]),
        )
        .unwrap();
        let dump = format!("{config:?}");
        assert!(!dump.contains("topsecret"), "{dump}");
    }
}
