//! Hostile input to every server function (from Leptos' own registry), signed in as an admin who may call them
//! all, from the console's own origin: each field's value replaced in turn by junk, oversized and odd Unicode,
//! and whole bodies that are not forms at all. Every answer is a clean refusal (4xx naming no internals) or a
//! success; never a 5xx. Nothing is stored unless the input was valid, and what is stored is exactly what was
//! sent. Run on SQLite and on PostgreSQL (whose `text` refuses NUL, the classic way to a 500).

mod support;

use reqwest::Method;
use server::secret::DatabaseUrl;
use std::collections::{BTreeMap, BTreeSet};
use support::browser::{Browser, Page};
use support::console::TestConsole;
use support::server_fns::{registered, sample_body};

/// Fields a server function takes besides those in its sample body: fuzzed as well, added to the sample.
fn optional_fields(path: &str) -> &'static [&'static str] {
    match path {
        "/api/releases" => &["service", "before"],
        "/api/deployments" => &["environment", "service", "state", "before"],
        "/api/audit/page" => &[
            "filter[actor]",
            "filter[action]",
            "filter[environment]",
            "filter[from]",
            "filter[until]",
            "filter[target]",
            "before",
        ],
        "/api/backups/drill" => &["performed_by", "notes"],
        "/api/deploy/request" => &["break_glass"],
        "/api/deployments/decide" | "/api/deployments/cancel" => &["reason"],
        "/api/deployments/control" => &["confirm"],
        "/api/deployments/rollback" => &["reason", "confirm"],
        _ => &[],
    }
}

/// The fields whose value is stored as sent (trimmed): (server function, field, limit in characters, several
/// lines allowed; limit 0 for an identifier: letters, digits, '-', ':', '.', '_', at most 255). Any other
/// field's hostile value must never end up stored.
const FREE_TEXT: &[(&str, &str, usize, bool)] = &[
    ("/api/tokens/create", "name", 80, false),
    ("/api/backups/drill", "performed_by", 100, false),
    ("/api/backups/drill", "notes", 2000, true),
    ("/api/backups/drill", "snapshot", 0, false),
];

/// What the body parts of a PostgreSQL, SQLite, panic or AWS error would look like; none may reach a browser.
const INTERNALS: &[&str] = &[
    "sqlx",
    "sqlstate",
    "database",
    "panicked",
    "moto",
    "aws-sdk",
    "dispatch",
    "sqlite",
    "postgres",
    "stack backtrace",
];

/// Bidirectional embeddings, overrides and isolates: they make text display in another order than it is stored.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether `text` (as sent) is one the console should store in a free-text field: something left after trimming,
/// within the limit, no control characters (but line breaks and tabs where lines are allowed) and no bidi controls.
fn acceptable_text(text: &str, limit: usize, multiline: bool) -> bool {
    let trimmed = text.trim();
    if limit == 0 {
        return !trimmed.is_empty()
            && trimmed.len() <= 255
            && trimmed
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '.' | '_'));
    }
    trimmed.chars().count() <= limit
        && !trimmed.chars().any(|c| {
            is_bidi_control(c)
                || c == '\u{FFFD}'
                || (c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')))
        })
}

struct Hostile {
    label: &'static str,
    /// As it goes into the form body.
    encoded: String,
    /// The text it decodes to, when it is valid UTF-8.
    text: Option<String>,
}

fn hostile_values() -> Vec<Hostile> {
    let text = |label, text: String| Hostile {
        label,
        encoded: url::form_urlencoded::byte_serialize(text.as_bytes()).collect(),
        text: Some(text),
    };
    let raw = |label, encoded: &str| Hostile {
        label,
        encoded: encoded.to_string(),
        text: None,
    };
    vec![
        text("NUL", "\0".into()),
        text("NUL inside", "no-such\0x".into()),
        raw("invalid UTF-8", "%FF%FE"),
        raw("invalid UTF-8 inside", "ok%C3%28x%80"),
        text("100,000 characters", "x".repeat(100_000)),
        text("60,000 characters", "y".repeat(60_000)),
        text(
            "right-to-left override and zero-width",
            "\u{202E}fdp.exe\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}".into(),
        ),
        text(
            "combining stack",
            format!("Z{}", "\u{0336}\u{0337}\u{0338}\u{0321}\u{0322}".repeat(12)),
        ),
        text("4-byte emoji", "🚀 deploy 👩\u{200D}💻🔥".into()),
        text("SQL probe", "' OR '1'='1' --".into()),
        text("SQL probe 2", "1; DROP TABLE api_tokens; --".into()),
        text("path traversal", "../../etc/passwd".into()),
        text("empty", String::new()),
        text("whitespace only", " \t\n\u{00A0}\u{3000} ".into()),
        text("escape sequence", "red\u{1b}[31m\u{7}\u{8}".into()),
        text("CR LF", "x\r\nSet-Cookie: a=b".into()),
        text("huge number", "99999999999999999999999".into()),
        text("negative number", "-1".into()),
    ]
}

/// The body limit the console is configured with (security.max_body_bytes, 64 KiB by default).
const OVER_THE_LIMIT: usize = 70 * 1024;

/// What storing after a request would mean.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Stores {
    /// The input is not valid: a stored row is a bug.
    Never,
    /// The sample's own values went in: a stored row must hold them.
    Sample,
    /// A free-text field's value: a stored row must hold exactly that text, trimmed.
    Text,
}

struct Case {
    label: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    stores: Stores,
    /// For `Stores::Text`: the field and the text it carried.
    text: Option<(&'static str, String)>,
    expect_status: Option<u16>,
}

fn fields_of(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn join(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A little xorshift: the same "random" bytes every run.
fn junk_bytes(n: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn cases(path: &str) -> Vec<Case> {
    let sample = sample_body(path);
    let fields = fields_of(sample);
    let form = Some("application/x-www-form-urlencoded");
    let case = |label: String, body: String, stores| Case {
        label,
        body: body.into_bytes(),
        content_type: form,
        stores,
        text: None,
        expect_status: None,
    };
    let mut cases = vec![case("the sample".into(), sample.into(), Stores::Sample)];

    // Each field, and each optional one, with each hostile value.
    let mut names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    names.extend(optional_fields(path));
    for name in &names {
        let free_text = FREE_TEXT.iter().find(|(p, f, ..)| *p == path && f == name);
        for hostile in hostile_values() {
            let mut changed = fields.clone();
            match changed.iter_mut().find(|(k, _)| k.as_str() == *name) {
                Some(field) => field.1 = hostile.encoded.clone(),
                None => changed.push((name.to_string(), hostile.encoded.clone())),
            }
            let body = join(&changed);
            let too_big = body.len() > 64 * 1024;
            cases.push(Case {
                label: format!("{name} = {}", hostile.label),
                body: body.into_bytes(),
                content_type: form,
                stores: match (free_text, &hostile.text) {
                    (Some(_), Some(_)) => Stores::Text,
                    _ => Stores::Never,
                },
                text: free_text
                    .and(hostile.text.clone())
                    .map(|t| (free_text.unwrap().1, t)),
                expect_status: too_big.then_some(413),
            });
        }
        // An array where a scalar goes, and deep nesting.
        let mut changed: Vec<(String, String)> = fields
            .iter()
            .filter(|(k, _)| k.as_str() != *name)
            .cloned()
            .collect();
        changed.push((format!("{name}[0]"), "x".into()));
        cases.push(case(
            format!("{name}[0] (an array)"),
            join(&changed),
            Stores::Never,
        ));
        let mut changed: Vec<(String, String)> = fields
            .iter()
            .filter(|(k, _)| k.as_str() != *name)
            .cloned()
            .collect();
        changed.push((format!("{name}{}", "[a]".repeat(200)), "x".into()));
        cases.push(case(
            format!("{name} nested 200 deep"),
            join(&changed),
            Stores::Never,
        ));
    }
    // Each field of the sample missing in turn: only an optional one may still store.
    for (name, _) in &fields {
        let rest: Vec<(String, String)> =
            fields.iter().filter(|(k, _)| k != name).cloned().collect();
        let stores = if name == "passed" {
            Stores::Sample
        } else {
            Stores::Never
        };
        cases.push(case(format!("{name} missing"), join(&rest), stores));
    }

    // Whole bodies.
    let json: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let json = serde_json::Value::Object(json).to_string();
    cases.push(case("an empty body".into(), String::new(), Stores::Never));
    cases.push(Case {
        label: "random bytes".into(),
        body: junk_bytes(4096),
        content_type: form,
        stores: Stores::Never,
        text: None,
        expect_status: None,
    });
    cases.push(case(
        "JSON with a form content type".into(),
        json.clone(),
        Stores::Never,
    ));
    cases.push(Case {
        label: "JSON".into(),
        body: json.into_bytes(),
        content_type: Some("application/json"),
        stores: Stores::Sample,
        text: None,
        expect_status: None,
    });
    cases.push(Case {
        label: "no content type".into(),
        body: sample.as_bytes().to_vec(),
        content_type: None,
        stores: Stores::Sample,
        text: None,
        expect_status: None,
    });
    cases.push(Case {
        label: "multipart that is not".into(),
        body: sample.as_bytes().to_vec(),
        content_type: Some("multipart/form-data; boundary=----nothing"),
        // The body is the sample's form, whatever the header says: storing it is no harm.
        stores: Stores::Sample,
        text: None,
        expect_status: None,
    });
    cases.push(case(
        "duplicated fields".into(),
        format!("{sample}&{sample}"),
        Stores::Sample,
    ));
    cases.push(case(
        "5,000 unknown fields".into(),
        (0..5000)
            .map(|i| format!("f{i}=v"))
            .collect::<Vec<_>>()
            .join("&"),
        Stores::Never,
    ));
    cases.push(Case {
        expect_status: Some(413),
        ..case(
            "a body over the limit".into(),
            format!("{sample}&pad={}", "p".repeat(OVER_THE_LIMIT)),
            Stores::Never,
        )
    });
    cases
}

/// A pool on the console's own database, to count rows behind its back.
enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

type Counts = (i64, i64, i64, i64, i64, i64, i64);

const COUNTS: &str = "SELECT (SELECT COUNT(*) FROM releases), (SELECT COUNT(*) FROM deployments),
    (SELECT COUNT(*) FROM deployment_steps), (SELECT COUNT(*) FROM deployment_approvals),
    (SELECT COUNT(*) FROM deployment_aws_calls), (SELECT COUNT(*) FROM api_tokens),
    (SELECT COUNT(*) FROM restore_drills)";

impl Db {
    async fn open(url: &str) -> Db {
        if url.starts_with("sqlite:") {
            Db::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .unwrap(),
            )
        } else {
            Db::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await
                    .unwrap(),
            )
        }
    }

    async fn counts(&self) -> Counts {
        match self {
            Db::Sqlite(pool) => sqlx::query_as(COUNTS).fetch_one(pool).await.unwrap(),
            Db::Postgres(pool) => sqlx::query_as(COUNTS).fetch_one(pool).await.unwrap(),
        }
    }

    async fn close(self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// The stored free text a request created: (field → value), of the one new token or drill.
async fn new_texts(
    console: &TestConsole,
    tokens: &mut BTreeSet<String>,
    drills: &mut BTreeSet<i64>,
) -> Vec<BTreeMap<&'static str, String>> {
    let storage = &console.running.storage;
    let mut created = Vec::new();
    for token in storage.api_tokens().await.unwrap() {
        if tokens.insert(token.id.clone()) {
            created.push(BTreeMap::from([("name", token.name)]));
        }
    }
    for environment in ["production", "staging"] {
        for drill in storage.drills(environment, 100_000).await.unwrap() {
            if drills.insert(drill.id) {
                created.push(BTreeMap::from([
                    ("performed_by", drill.performed_by),
                    ("notes", drill.notes),
                    ("snapshot", drill.snapshot),
                ]));
            }
        }
    }
    created
}

fn names_internals(page: &Page) -> Option<&'static str> {
    let body = page.body.to_lowercase();
    INTERNALS.iter().copied().find(|word| body.contains(word))
}

async fn every_server_function_survives_hostile_input(database_url: String) {
    let console = TestConsole::start(true, |config| {
        config.security.per_user_per_minute = 1_000_000;
        config.security.per_ip_per_minute = 1_000_000;
        config.database.url = DatabaseUrl::new(database_url.clone());
        assert_eq!(
            config.security.max_body_bytes,
            64 * 1024,
            "the cases assume the default body limit"
        );
    })
    .await;
    let db = Db::open(&database_url).await;
    let admin: Browser = console.browser_as("ada").await;
    let ada = "Ada Admin";
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    let mut stored_rows = 0;
    let mut closed_early = 0;
    let mut accepted_texts: Vec<(String, String)> = Vec::new();
    let mut tokens = BTreeSet::new();
    let mut drills = BTreeSet::new();
    let mut before = db.counts().await;

    // HOSTILE_DUMP=1 prints every answer.
    let dump = std::env::var_os("HOSTILE_DUMP").is_some();
    let paths = registered();
    assert!(paths.len() >= app::api::SERVER_FUNCTION_RULES.len());
    for path in &paths {
        for case in cases(path) {
            let mut headers = vec![
                ("origin", console.base.as_str()),
                ("sec-fetch-site", "same-origin"),
            ];
            if let Some(content_type) = case.content_type {
                headers.push(("content-type", content_type));
            }
            // The server closes the connection after refusing an oversized body; without this the client could
            // put that connection back in its pool and send the next case down it, which then fails to send.
            if case.expect_status == Some(413) {
                headers.push(("connection", "close"));
            }
            let page = match admin
                .request_bytes(Method::POST, &console.url(path), case.body, &headers)
                .await
            {
                Ok(page) => page,
                // Refusing a body over the limit, the server may answer 413 and close the connection before the
                // client has sent it all: the client then sees the connection closed instead of the 413.
                Err(error) if case.expect_status == Some(413) => {
                    closed_early += 1;
                    let probe = admin
                        .request_bytes(
                            Method::POST,
                            &console.url("/api/whoami"),
                            Vec::new(),
                            &headers,
                        )
                        .await;
                    if probe.map(|p| p.status).ok() != Some(200) {
                        problems.push(format!(
                            "{path} with {}: the console did not answer after {error}",
                            case.label
                        ));
                    }
                    continue;
                }
                Err(error) => panic!("{path} with {}: {error}", case.label),
            };
            *statuses.entry(page.status).or_default() += 1;
            let what = format!("{path} with {}", case.label);
            let short: String = page.body.chars().take(300).collect();
            if dump {
                println!("{} {what}: {}", page.status, short.replace('\n', " "));
            }
            if page.status >= 500 {
                problems.push(format!("{what}: {} {short}", page.status));
            }
            if let Some(expected) = case.expect_status {
                if page.status != expected {
                    problems.push(format!(
                        "{what}: expected {expected}, got {} {short}",
                        page.status
                    ));
                }
            }
            if page.status >= 400 {
                if let Some(word) = names_internals(&page) {
                    problems.push(format!(
                        "{what}: the refusal names {word:?}: {} {short}",
                        page.status
                    ));
                }
            }
            let after = db.counts().await;
            if after == before {
                continue;
            }
            let created = new_texts(&console, &mut tokens, &mut drills).await;
            stored_rows += created.len();
            if !(200..300).contains(&page.status) {
                problems.push(format!(
                    "{what}: refused with {} yet stored {before:?} → {after:?}",
                    page.status
                ));
            }
            before = after;
            match case.stores {
                Stores::Never => problems.push(format!("{what}: invalid input was stored")),
                Stores::Sample => {
                    for row in &created {
                        let value = row.get("name").or(row.get("snapshot"));
                        if value.map(String::as_str) != Some("matrix") {
                            problems.push(format!("{what}: stored {row:?}, not the sample"));
                        }
                    }
                }
                Stores::Text => {
                    let (field, text) = case.text.clone().unwrap();
                    let (_, _, limit, multiline) = FREE_TEXT
                        .iter()
                        .find(|(p, f, ..)| *p == path.as_str() && *f == field)
                        .unwrap();
                    let expected = match text.trim() {
                        "" if field == "performed_by" => ada.to_string(),
                        trimmed => trimmed.to_string(),
                    };
                    let stored = created.first().and_then(|row| row.get(field));
                    if stored != Some(&expected) {
                        problems.push(format!(
                            "{what}: stored {:?}, sent {expected:?}",
                            stored.map(|s| s.chars().take(80).collect::<String>())
                        ));
                    }
                    if !acceptable_text(&text, *limit, *multiline)
                        || (field == "name" && text.trim().is_empty())
                    {
                        problems.push(format!("{what}: stored text it should have refused"));
                    }
                    accepted_texts.push((format!("{path} {field}"), case.label.clone()));
                }
            }
        }
    }
    // Odd but valid text is stored as sent: the refusals above are not blanket ones.
    for label in [
        "4-byte emoji",
        "SQL probe",
        "path traversal",
        "combining stack",
    ] {
        if !accepted_texts
            .iter()
            .any(|(what, l)| what.ends_with(" name") && l.ends_with(label))
        {
            problems.push(format!("a token named with the {label} was not stored"));
        }
    }
    assert!(server::audit::verify(&console.running.storage)
        .await
        .unwrap()
        .is_intact());
    db.close().await;

    let total = statuses.values().sum::<usize>() + closed_early;
    let class = |c: u16| -> usize {
        statuses
            .iter()
            .filter(|(s, _)| **s / 100 == c)
            .map(|(_, n)| n)
            .sum()
    };
    println!(
        "hostile input, {} server functions: {total} requests; 2xx {}, 3xx {}, 4xx {}, 5xx {}; by status {statuses:?}; \
         {stored_rows} rows stored by valid input ({} odd-but-valid free texts); \
         {closed_early} bodies over the limit refused by closing the connection",
        paths.len(),
        class(2),
        class(3),
        class(4),
        class(5),
        accepted_texts.len(),
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_server_function_survives_hostile_input_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("hostile.db").display()
    );
    every_server_function_survives_hostile_input(url).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_server_function_survives_hostile_input_on_postgres() {
    let database = support::postgres::create_database().await;
    every_server_function_survives_hostile_input(database.url.clone()).await;
    support::postgres::drop_database(&database).await;
}
