//! The REST API as CI uses it: a token an admin made on the tokens page, and JSON calls with it.

use super::browser::Browser;

/// A token with `scopes`, valid a day, created by ada (admin) through the console at `base`.
pub async fn admin_token(base: &str, scopes: &[&str]) -> String {
    let admin = Browser::new();
    assert_eq!(admin.sign_in(base, "ada", "/").await.status, 200);
    let mut form = vec![
        ("name".to_string(), "ci".to_string()),
        ("valid_days".to_string(), "1".to_string()),
    ];
    for (i, scope) in scopes.iter().enumerate() {
        form.push((format!("scopes[{i}]"), scope.to_string()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let created = admin
        .post_form(&format!("{base}/api/tokens/create"), &form)
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    serde_json::from_str::<app::dto::CreatedToken>(&created.body)
        .unwrap()
        .secret
}

/// One call with the token; a status other than 2xx fails the caller with the answer.
pub async fn call(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}
