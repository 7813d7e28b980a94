//! A small browser for server-side tests: a cookie jar (per host, like a browser: cookies ignore the port),
//! redirects followed by hand so each hop can be inspected, HTML forms posted as a person would.

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::Method;
use std::collections::BTreeMap;
use std::sync::Mutex;

pub struct Page {
    pub status: u16,
    pub url: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<String> {
        let location = self.headers.get(LOCATION)?.to_str().ok()?;
        Some(
            url::Url::parse(&self.url)
                .ok()?
                .join(location)
                .ok()?
                .to_string(),
        )
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The `action` of the first form on the page, resolved against the page's URL.
    pub fn form_action(&self) -> String {
        let start = self.body.find("action=\"").expect("a form on the page") + 8;
        let end = self.body[start..].find('"').unwrap() + start;
        let action = self.body[start..end].replace("&amp;", "&");
        url::Url::parse(&self.url)
            .unwrap()
            .join(&action)
            .unwrap()
            .to_string()
    }
}

#[derive(Default)]
pub struct Browser {
    client: reqwest::Client,
    /// host → name → value
    jar: Mutex<BTreeMap<String, BTreeMap<String, String>>>,
}

fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

impl Browser {
    pub fn new() -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Mutex::default(),
        }
    }

    pub fn cookie(&self, host: &str, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(host)?.get(name).cloned()
    }

    pub fn set_cookie(&self, host: &str, name: &str, value: &str) {
        self.jar
            .lock()
            .unwrap()
            .entry(host.into())
            .or_default()
            .insert(name.into(), value.into());
    }

    fn store_cookies(&self, url: &str, headers: &HeaderMap) {
        let mut jar = self.jar.lock().unwrap();
        let cookies = jar.entry(host_of(url)).or_default();
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let expired = parts.any(|attr| {
                let attr = attr.trim().to_ascii_lowercase();
                attr == "max-age=0" || attr.starts_with("expires=thu, 01 jan 1970")
            });
            if expired || value.is_empty() {
                cookies.remove(name.trim());
            } else {
                cookies.insert(name.trim().to_string(), value.trim().to_string());
            }
        }
    }

    /// One request, no redirects followed; `form` is sent URL-encoded.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Page {
        let body = form.map(|form| {
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter())
                .finish()
        });
        let mut all = headers.to_vec();
        if body.is_some() {
            all.push(("content-type", "application/x-www-form-urlencoded"));
        }
        self.request_with_body(method, url, body.map(String::into_bytes), &all)
            .await
    }

    async fn request_with_body(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Page {
        self.try_request_with_body(method, url, body, headers)
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    async fn try_request_with_body(
        &self,
        method: Method,
        url: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Page, reqwest::Error> {
        let mut request = self.client.request(method, url);
        let cookie = self
            .jar
            .lock()
            .unwrap()
            .get(&host_of(url))
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        if !cookie.is_empty() {
            request = request.header("cookie", cookie);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        self.store_cookies(url, &headers);
        let body = response.text().await.unwrap_or_default();
        Ok(Page {
            status,
            url: url.to_string(),
            headers,
            body,
        })
    }

    /// A request with a body as given (already encoded) and explicit headers.
    pub async fn request_raw(
        &self,
        method: Method,
        url: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Page {
        self.request_with_body(method, url, Some(body.as_bytes().to_vec()), headers)
            .await
    }

    /// [`Browser::request_raw`] with any bytes as the body, UTF-8 or not; a connection the server closed (as it
    /// may when it refuses a body over the limit before reading it all) is an `Err`.
    pub async fn request_bytes(
        &self,
        method: Method,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Result<Page, reqwest::Error> {
        self.try_request_with_body(method, url, Some(body), headers)
            .await
    }

    pub async fn get(&self, url: &str) -> Page {
        self.request(Method::GET, url, None, &[]).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Page {
        self.request(Method::POST, url, Some(form), &[]).await
    }

    /// Follows redirects from `page` (GET, as browsers do after 302/303), stopping early at a URL starting with
    /// `stop_at` (to inspect or tamper with it). Returns every hop's final page.
    pub async fn follow_from(&self, mut page: Page, stop_at: Option<&str>) -> Page {
        for _ in 0..20 {
            if !(300..400).contains(&page.status) {
                return page;
            }
            let next = page.location().expect("a redirect has a Location");
            if stop_at.is_some_and(|prefix| next.starts_with(prefix)) {
                return page;
            }
            page = self.get(&next).await;
        }
        panic!("too many redirects, last {}", page.url);
    }

    pub async fn follow(&self, url: &str) -> Page {
        let page = self.get(url).await;
        self.follow_from(page, None).await
    }

    /// Signs in at `console` (base URL) through the IdP's real login form. Returns the page the console lands
    /// on. `stop_at_callback` leaves the browser at the redirect to the console's callback, unvisited.
    pub async fn sign_in(&self, console: &str, user: &str, return_to: &str) -> Page {
        let page = self.sign_in_until_callback(console, user, return_to).await;
        self.follow_from(page, None).await
    }

    /// Goes through the IdP's login and stops with the redirect to `<console>/auth/callback` not yet followed.
    pub async fn sign_in_until_callback(&self, console: &str, user: &str, return_to: &str) -> Page {
        let start = format!("{console}{return_to}");
        let login_form = self.follow(&start).await;
        assert_eq!(
            login_form.status, 200,
            "the IdP's login form: {}",
            login_form.body
        );
        assert!(
            login_form.body.contains("name=\"login\""),
            "expected the IdP's login form at {}, got {}",
            login_form.url,
            login_form.body
        );
        let posted = self
            .post_form(
                &login_form.form_action(),
                &[("login", user), ("password", "demo")],
            )
            .await;
        self.follow_from(posted, Some(&format!("{console}/auth/callback")))
            .await
    }
}
