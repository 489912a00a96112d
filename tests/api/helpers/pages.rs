//! The broker's pages as a browser uses them: CSRF tokens, form posts, signing in (password,
//! TOTP enrolment, "Log in with SSO") and reading what a page or a redirect says.

use reqwest::header::LOCATION;
use sso_broker::auth::totp::{self, TotpSecret};

use super::{TestApp, PASSWORD};

/// The value of the hidden `csrf_token` field in a page.
pub fn csrf_from(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).expect("page has a csrf_token field") + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// The `Location` of a redirect, or `""`.
pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The path and query of a URL on the broker's public URL (http://127.0.0.1:8080).
pub fn broker_path(url: &str) -> String {
    url.strip_prefix("http://127.0.0.1:8080")
        .unwrap_or_else(|| panic!("not a broker URL: {url}"))
        .to_string()
}

/// `text` as askama escapes it in a page.
pub fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// The `xxxxx-xxxxx` codes listed on a page.
pub fn recovery_codes_in(html: &str) -> Vec<String> {
    html.split("<code>")
        .skip(1)
        .filter_map(|part| part.split("</code>").next())
        .filter(|c| c.len() == 11 && c.as_bytes()[5] == b'-')
        .map(str::to_string)
        .collect()
}

impl TestApp {
    /// Fetches `page` for its CSRF token, then posts `form` (with the token) to `action`.
    pub async fn submit(
        &self,
        page: &str,
        action: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let csrf = csrf_from(&self.get_html(page).await);
        let mut fields: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post_form(action, &fields).await
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        self.submit(
            "/login",
            "/login",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// Signs `username` in from `browser` (another browser than `self.client`).
    pub async fn sign_in_from(
        &self,
        browser: &reqwest::Client,
        username: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.get_html_from(browser, "/login").await;
        let csrf = csrf_from(&html);
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("password", password),
        ];
        form.extend_from_slice(extra);
        browser
            .post(self.url("/login"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Enrolls TOTP for the signed-in user; returns the secret and the recovery codes.
    pub async fn enroll_totp(&self) -> (TotpSecret, Vec<String>) {
        let html = self.get_html("/account/security").await;
        let start = html.find("otpauth://").expect("otpauth URI on the page");
        let uri = html[start..]
            .split('<')
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#x3D;", "=");
        let parsed = url::Url::parse(&uri).unwrap();
        let secret = parsed
            .query_pairs()
            .find(|(k, _)| k == "secret")
            .unwrap()
            .1
            .to_string();
        let secret = TotpSecret::from_bytes(
            data_encoding::BASE32_NOPAD
                .decode(secret.as_bytes())
                .unwrap(),
        );
        let code = self.current_code(&secret);
        let res = self
            .submit(
                "/account/security",
                "/account/security/totp",
                &[("code", &code)],
            )
            .await;
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        let codes = recovery_codes_in(&html);
        assert_eq!(codes.len(), 10, "ten recovery codes shown");
        (secret, codes)
    }

    /// `with_user`, then ada signs in in the test's own browser and enrolls TOTP; the secret
    /// and the recovery codes.
    pub async fn with_totp_user(&self) -> (TotpSecret, Vec<String>) {
        self.with_user().await;
        self.sign_in("ada", PASSWORD).await;
        self.enroll_totp().await
    }

    pub fn current_code(&self, secret: &TotpSecret) -> String {
        secret.code_at_step(totp::step_at(
            sso_broker::clock::Clock::now(&self.clock).timestamp(),
        ))
    }
}

/// A new browser in which `username` signed in with `PASSWORD`.
pub async fn signed_in_browser(app: &TestApp, username: &str) -> reqwest::Client {
    let browser = app.new_browser();
    let res = app.sign_in_from(&browser, username, PASSWORD, &[]).await;
    assert_eq!(res.status(), 303, "{username} signs in");
    browser
}

/// Signs `username` in with `PASSWORD` from a new browser: the answer's status and page.
pub async fn password_attempt(app: &TestApp, username: &str) -> (u16, String) {
    let res = app
        .sign_in_from(&app.new_browser(), username, PASSWORD, &[])
        .await;
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

/// The status `GET /api/v1/me` answers in `browser`.
pub async fn me_status(app: &TestApp, browser: &reqwest::Client) -> u16 {
    browser
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Posts "Log in with SSO" (`account`, `email`) in the test's own browser.
pub async fn start_sso(app: &TestApp, account: &str, email: &str) -> reqwest::Response {
    app.submit(
        "/login/sso",
        "/login/sso",
        &[("account", account), ("email", email)],
    )
    .await
}

/// An admin signed in in `browser` invites `email` with `role` on `/admin/users`.
pub async fn invite_from(
    app: &TestApp,
    browser: &reqwest::Client,
    email: &str,
    role: &str,
) -> reqwest::Response {
    let html = app.get_html_from(browser, "/admin/users").await;
    browser
        .post(app.url("/admin/users/invite"))
        .form(&[
            ("csrf_token", csrf_from(&html).as_str()),
            ("email", email),
            ("role", role),
        ])
        .send()
        .await
        .unwrap()
}
