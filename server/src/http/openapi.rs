//! The OpenAPI 3.1 document of `/api/v1`, built from the same route table the router is built from, so a route
//! cannot be missing from it. Served at `GET /api/v1/openapi.json`.

use super::api_v1::API_ROUTES;
use app::auth::Scope;
use serde_json::{json, Map, Value};

/// What each route does, its parameters and body, for the document.
fn describe(path: &str, method: &str) -> (&'static str, Option<Value>) {
    let release_body = json!({
        "type": "object",
        "required": ["service", "version", "image"],
        "additionalProperties": false,
        "properties": {
            "service": {"type": "string", "description": "a service configured in some environment, e.g. api"},
            "version": {"type": "string", "pattern": "^[A-Za-z0-9._+-]{1,128}$"},
            "image": {"type": "string", "maxLength": 512},
            "digest": {"type": ["string", "null"], "pattern": "^sha256:[0-9a-f]{64}$"},
            "commit": {"type": "string", "pattern": "^([0-9a-fA-F]{7,40})?$"},
            "notes": {"type": "string", "maxLength": 10000},
            "ticket_url": {"type": ["string", "null"], "format": "uri"},
            "environment": {"type": "object", "additionalProperties": {"type": "string"}},
            "cpu": {"type": ["string", "null"], "pattern": "^[0-9]{1,6}$"},
            "memory": {"type": ["string", "null"], "pattern": "^[0-9]{1,6}$"}
        }
    });
    let deploy_body = json!({
        "type": "object",
        "required": ["release", "environment"],
        "properties": {
            "release": {"type": "string", "description": "a release id from POST /api/v1/releases"},
            "environment": {"type": "string"},
            "break_glass": {"type": ["string", "null"], "description": "required during a freeze; admins only"}
        }
    });
    let reason_body = json!({
        "type": "object",
        "properties": {"reason": {"type": "string", "description": "required to reject"}}
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
    let text = |name: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}});
    let int = |name: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0}});
    match path {
        "/api/v1/releases" => vec![text("service"), int("before"), int("limit")],
        "/api/v1/deployments" => vec![
            text("environment"),
            text("service"),
            text("state"),
            text("release"),
            int("before"),
            int("limit"),
        ],
        "/api/v1/deployments/{id}/wait" => vec![int("timeout_secs")],
        "/api/v1/audit/events" => vec![
            text("actor"),
            text("action"),
            text("environment"),
            text("from"),
            text("until"),
            text("target"),
            int("before"),
            int("limit"),
        ],
        _ => Vec::new(),
    }
}

pub fn document(version: &str) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in API_ROUTES {
        let method = route.method.as_str().to_ascii_lowercase();
        let (summary, body) = describe(route.path, route.method.as_str());
        let mut parameters: Vec<Value> = route
            .path
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split('}').next())
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(query_parameters(route.path));
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
        let doc = document("test");
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
    }
}
