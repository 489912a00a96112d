//! `/login/sso`: "Log in with SSO" (SPEC §3.2, fields `account`, `email`). The account name is
//! remembered in a cookie so that next time only the email is needed.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::domain::{messages, AccountName};
use crate::routes::errors::PageError;
use crate::routes::extract::{verify_csrf, CsrfToken, Meta};
use crate::services::sso_discovery;
use crate::AppState;

const ACCOUNT_COOKIE: &str = "sso_broker_account";

#[derive(Template)]
#[template(path = "sso.html")]
pub struct SsoPage {
    pub csrf_token: String,
    pub account: String,
    pub email: String,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct SsoForm {
    csrf_token: Option<String>,
    account: Option<String>,
    email: Option<String>,
}

fn remembered_account(req: &HttpRequest) -> String {
    req.cookie(ACCOUNT_COOKIE)
        .and_then(|c| AccountName::parse(c.value()).ok())
        .map(|n| n.to_string())
        .unwrap_or_default()
}

pub async fn show(req: HttpRequest, csrf: CsrfToken) -> Result<HttpResponse, PageError> {
    render(
        StatusCode::OK,
        &SsoPage {
            csrf_token: csrf.0,
            account: remembered_account(&req),
            email: String::new(),
            error: None,
        },
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SsoForm>,
    csrf: CsrfToken,
    meta: Meta,
) -> Result<HttpResponse, PageError> {
    let account = form
        .account
        .clone()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(100)
        .collect::<String>();
    let email = form
        .email
        .clone()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(254)
        .collect::<String>();
    let page = |status: StatusCode, error: &str| {
        render(
            status,
            &SsoPage {
                csrf_token: csrf.0.clone(),
                account: account.clone(),
                email: email.clone(),
                error: Some(error.to_string()),
            },
        )
    };
    if verify_csrf(&req, &state, form.csrf_token.as_deref()).is_err() {
        return page(StatusCode::FORBIDDEN, messages::FORM_EXPIRED);
    }
    if account.is_empty() || email.is_empty() {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your account name and your work email.",
        );
    }
    let refusal = sso_discovery::begin(&state, account.clone(), email.clone(), meta.0).await?;
    let mut res = page(StatusCode::UNPROCESSABLE_ENTITY, &refusal.to_string())?;
    if let Ok(name) = AccountName::parse(&account) {
        let cookie = Cookie::build(ACCOUNT_COOKIE, name.to_string())
            .path("/login")
            .http_only(true)
            .secure(state.settings.is_https())
            .same_site(SameSite::Lax)
            .max_age(actix_web::cookie::time::Duration::days(365))
            .finish();
        let _ = res.add_cookie(&cookie);
    }
    Ok(res)
}
