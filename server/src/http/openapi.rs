//! The OpenAPI 3.1 document of `/api/v1`, built from the same route table the router is built from, so a route
//! cannot be missing from it. Served at `GET /api/v1/openapi.json`.

use super::api_v1::{API_ROUTES, PAGE_MAX};
use app::auth::Scope;
use app::dto::DeploymentState;
use serde_json::{json, Map, Value};

/// A string that is one of `names` (configured here), or any string when none are known yet.
fn one_of(names: &[String], description: &str) -> Value {
    match names.is_empty() {
        true => json!({"type": "string", "description": description}),
        false => json!({"type": "string", "enum": names, "description": description}),
    }
}

/// Text without control characters, at most `max` characters.
fn plain_text(min: u32, max: u32) -> Value {
    json!({"type": "string", "pattern": format!("^[^\\u0000-\\u001f\\u007f-\\u009f]{{{min},{max}}}$")})
}

/// Text a person wrote (`app::validate::text` with lines): line breaks and tabs, but no other control
/// characters, no bidirectional overrides and no U+FFFD, at most `max` characters.
fn written_text(max: usize) -> Value {
    json!({"type": "string", "maxLength": max, "pattern": format!(
        "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069\\ufffd]{{0,{max}}}$"
    )})
}

/// Something looked up by (`app::validate::key`): no control characters or bidirectional overrides, at most
/// [`app::validate::MAX_KEY_CHARS`] characters.
fn lookup_key() -> Value {
    json!({"type": "string", "pattern": format!(
        "^[^\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069]{{0,{}}}$",
        app::validate::MAX_KEY_CHARS
    )})
}

/// What each route does, its parameters and body, for the document.
fn describe(
    path: &str,
    method: &str,
    environments: &[String],
    services: &[String],
) -> (&'static str, Option<Value>) {
    let release_body = json!({
        "type": "object",
        "required": ["service", "version", "image"],
        "additionalProperties": false,
        "properties": {
            "service": one_of(services, "a service configured in some environment"),
            "version": {"type": "string", "pattern": "^[A-Za-z0-9._+-]{1,128}$"},
            "image": {"type": "string", "pattern": "^[^\\s\\u0000-\\u001f\\u007f-\\u009f]{1,512}$"},
            "digest": {"type": ["string", "null"], "pattern": "^sha256:[0-9a-f]{64}$"},
            "commit": {"type": "string", "pattern": "^([0-9a-fA-F]{7,40})?$"},
            "notes": written_text(10_000),
            "ticket_url": {"type": ["string", "null"], "format": "uri", "pattern": "^https?://", "maxLength": 1000},
            "environment": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Z_][A-Z0-9_]{0,127}$"},
                "additionalProperties": plain_text(0, 4096)
            },
            "cpu": {"type": ["string", "null"], "pattern": "^[0-9]{1,6}$"},
            "memory": {"type": ["string", "null"], "pattern": "^[0-9]{1,6}$"}
        }
    });
    let deploy_body = json!({
        "type": "object",
        "required": ["release", "environment"],
        "properties": {
            "release": {"type": "string", "pattern": lookup_key()["pattern"].clone(),
                        "description": "a release id from POST /api/v1/releases"},
            "environment": one_of(environments, "a configured environment"),
            "break_glass": {"type": ["string", "null"], "maxLength": 2000, "pattern": written_text(2000)["pattern"].clone(),
                            "description": "required during a freeze; admins only"}
        }
    });
    let reason_body = json!({
        "type": "object",
        "properties": {"reason": {"type": "string", "maxLength": 2000, "pattern": written_text(2000)["pattern"].clone(),
                                  "description": "required to reject"}}
    });
    match (method, path) {
        ("GET", "/api/v1/whoami") => ("Who the token is", None),
        ("GET", "/api/v1/environments") => ("Every environment as the collector last saw it", None),
        ("GET", "/api/v1/environments/{name}") => ("One environment", None),
        ("GET", "/api/v1/health/{environment}/{service}") => ("The health gate's verdict per colour", None),
        ("GET", "/api/v1/backups/{environment}") => ("Backups and \"recoverable now?\"", None),
        ("POST", "/api/v1/releases") => (
            "Register a build (201 new, 200 the same build again, 409 a different build under a used version)",
            Some(release_body),
        ),
        ("GET", "/api/v1/releases") => ("Releases, newest first (keyset: before = next_before)", None),
        ("POST", "/api/v1/deployments") => ("Request a deploy (201)", Some(deploy_body)),
        ("GET", "/api/v1/deployments") => ("Deployment history, newest first, filtered", None),
        ("GET", "/api/v1/deployments/{id}") => ("One deployment: state, steps, approvals, plan", None),
        ("GET", "/api/v1/deployments/{id}/wait") => (
            "Waits until the deployment finishes or halts, or timeout_secs (≤ 300) passes; `finished` says which",
            None,
        ),
        ("POST", "/api/v1/deployments/{id}/approve") => (
            "Approve (never the requester's own, nor through their token)",
            Some(reason_body.clone()),
        ),
        ("POST", "/api/v1/deployments/{id}/reject") => ("Reject, with a reason", Some(reason_body)),
        ("GET", "/api/v1/audit/events") => ("Audit events, newest first, filtered", None),
        ("GET", "/api/v1/openapi.json") => ("This document", None),
        _ => ("", None),
    }
}

fn query_parameters(path: &str) -> Vec<Value> {
    let param = |name: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "schema": schema});
    let text = |name: &str| param(name, lookup_key());
    let int = |name: &str, min: u64, max: u64| {
        param(
            name,
            json!({"type": "integer", "minimum": min, "maximum": max}),
        )
    };
    let before = || int("before", 0, i64::MAX as u64);
    let time = |name: &str| {
        param(
            name,
            json!({"type": "string", "anyOf": [{"format": "date"}, {"format": "date-time"}, {"maxLength": 0}],
                   "description": "a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time; empty: no bound"}),
        )
    };
    let states: Vec<&str> = DeploymentState::ALL.iter().map(|s| s.as_str()).collect();
    match path {
        "/api/v1/releases" => vec![
            text("service"),
            before(),
            int("limit", 1, u64::from(PAGE_MAX)),
        ],
        "/api/v1/deployments" => vec![
            text("environment"),
            text("service"),
            param("state", json!({"type": "string", "enum": states})),
            text("release"),
            before(),
            int("limit", 1, u64::from(PAGE_MAX)),
        ],
        "/api/v1/deployments/{id}/wait" => vec![int("timeout_secs", 1, 300)],
        "/api/v1/audit/events" => vec![
            text("actor"),
            text("action"),
            text("environment"),
            time("from"),
            time("until"),
            text("target"),
            before(),
            int("limit", 1, u64::from(crate::audit::BATCH)),
        ],
        _ => Vec::new(),
    }
}

/// The document for this console: `environments` and `services` are the names configured here.
pub fn document(version: &str, environments: &[String], services: &[String]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in API_ROUTES {
        let method = route.method.as_str().to_ascii_lowercase();
        let (summary, body) = describe(route.path, route.method.as_str(), environments, services);
        let mut parameters: Vec<Value> = route
            .path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": lookup_key()}))
            .collect();
        if route.method == axum::http::Method::GET {
            parameters.extend(query_parameters(route.path));
        }
        let scope = route
            .permission
            .and_then(Scope::needed_for)
            .map(|s| s.as_str().to_string());
        let mut operation = json!({
            "operationId": route.action,
            "summary": summary,
            "parameters": parameters,
            "security": [{"bearer": []}],
            "x-signalbox-scope": scope,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {}}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
                "409": {"$ref": "#/components/responses/Error"},
                "422": {"$ref": "#/components/responses/Error"},
                "429": {"$ref": "#/components/responses/Error"},
                "502": {"$ref": "#/components/responses/Error"}
            }
        });
        if route.method == axum::http::Method::POST {
            operation["responses"]["201"] =
                json!({"description": "Created", "content": {"application/json": {"schema": {}}}});
        }
        if let Some(schema) = body {
            operation["requestBody"] = json!({
                "required": route.path == "/api/v1/releases" || route.path == "/api/v1/deployments",
                "content": {"application/json": {"schema": schema}}
            });
        }
        paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(method, operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Signalbox API",
            "version": version,
            "description": "For CI: register releases, request deploys, wait for outcomes. Bearer tokens from /admin/tokens; each route names the scope it needs (x-signalbox-scope)."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "sbx_<id>_<secret>"}},
            "responses": {"Error": {
                "description": "An error in our words: error (unauthorized, forbidden, not_found, validation, conflict, upstream, internal), message, detail",
                "content": {"application/json": {"schema": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}, "detail": {}}
                }}}
            }}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_with_its_scope() {
        let doc = document("test", &["production".into()], &["api".into()]);
        for route in API_ROUTES {
            let method = route.method.as_str().to_ascii_lowercase();
            let operation = &doc["paths"][route.path][&method];
            assert!(
                operation.is_object(),
                "{} {} missing",
                route.method,
                route.path
            );
            assert!(
                !operation["summary"].as_str().unwrap().is_empty(),
                "{} has no summary",
                route.path
            );
        }
        assert_eq!(
            doc["paths"]["/api/v1/releases"]["post"]["x-signalbox-scope"],
            "releases:write"
        );
        // The configured names are the values the API accepts.
        let release = &doc["paths"]["/api/v1/releases"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        assert_eq!(release["properties"]["service"]["enum"], json!(["api"]));
    }

    #[test]
    fn the_patterns_the_document_promises_are_the_ones_the_server_applies() {
        let doc = document("test", &[], &[]);
        let release = &doc["paths"]["/api/v1/releases"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        let pattern = |p: &Value| regex_lite::Regex::new(p["pattern"].as_str().unwrap()).unwrap();
        let image = pattern(&release["properties"]["image"]);
        assert!(image.is_match("123456789012.dkr.ecr.us-east-1.amazonaws.com/accunode-api:1.2.3"));
        assert!(
            !image.is_match("with space") && !image.is_match("") && !image.is_match("bell\u{7}")
        );
        // Written text and lookup keys: the document's patterns and app::validate agree.
        let notes = pattern(&release["properties"]["notes"]);
        let key = pattern(&lookup_key());
        for sample in [
            "two\nlines\tand a tab",
            "🚀 ' OR '1'='1' --",
            "nul\0",
            "bell\u{7}",
            "\u{202E}fdp.exe",
            "\u{FFFD}",
            "",
        ] {
            assert_eq!(
                notes.is_match(sample),
                app::validate::text("notes", sample, 10_000, true).is_ok(),
                "notes {sample:?}"
            );
            assert_eq!(
                key.is_match(sample),
                app::validate::key("id", sample).is_ok(),
                "key {sample:?}"
            );
        }
        let value = pattern(&release["properties"]["environment"]["additionalProperties"]);
        assert!(value.is_match("on") && value.is_match("") && !value.is_match("a\nb"));
        assert!(
            release["properties"]["service"].get("enum").is_none(),
            "no names known: any string"
        );
    }
}
