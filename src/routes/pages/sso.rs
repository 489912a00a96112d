//! `/login/sso` (SPEC §3.2, fields `account`, `email`) and the OIDC redirect URI
//! `/sso/oidc/callback`. The account name is remembered in a cookie so that next time only the
//! email is needed; the flow's `state` is bound to the browser by a short-lived cookie.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::auth::session;
use crate::domain::{messages, AccountName, AfterSignIn};
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{verify_csrf, CsrfToken, CurrentUser, MaybeUser, Meta};
use crate::services::connections::admin_consent::{self, ConsentCallback};
use crate::services::sign_in::failure::Step;
use crate::services::sso::flow::FlowBinding;
use crate::services::sso::outcome::{Callback, CallbackOutcome};
use crate::services::sso::{entra, start};
use crate::services::ServiceError;
use crate::AppState;

const ACCOUNT_COOKIE: &str = "sso_broker_account";
const FLOW_COOKIE: &str = "sso_broker_flow";
const CONSENT_COOKIE: &str = "sso_broker_consent";
pub const SAML_FLOW_COOKIE: &str = "sso_broker_saml_flow";

#[derive(Template)]
#[template(path = "sso.html")]
pub struct SsoPage {
    pub csrf_token: String,
    pub account: String,
    pub email: String,
    pub return_to: String,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct SsoForm {
    csrf_token: Option<String>,
    account: Option<String>,
    email: Option<String>,
    return_to: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct SsoQuery {
    return_to: Option<String>,
    account: Option<String>,
    email: Option<String>,
}

fn remembered_account(req: &HttpRequest) -> String {
    req.cookie(ACCOUNT_COOKIE)
        .and_then(|c| AccountName::parse(c.value()).ok())
        .map(|n| n.to_string())
        .unwrap_or_default()
}

fn cookie<'a>(
    state: &AppState,
    name: &'a str,
    value: String,
    path: &'a str,
    max_age: actix_web::cookie::time::Duration,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path(path)
        .http_only(true)
        .secure(state.settings.is_https())
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

/// The cookie that carries a SAML flow's RelayState back to the ACS. The ACS is a cross-site
/// POST from the IdP, so over https the cookie is SameSite=None (browsers require Secure with
/// it); over plain http (loopback development, where the IdP is same-site) it is Lax.
pub fn saml_flow_cookie(state: &AppState, value: String) -> Cookie<'static> {
    let same_site = if state.settings.is_https() {
        SameSite::None
    } else {
        SameSite::Lax
    };
    Cookie::build(SAML_FLOW_COOKIE, value)
        .path("/sso/saml/acs")
        .http_only(true)
        .secure(state.settings.is_https())
        .same_site(same_site)
        .max_age(flow_cookie_age())
        .finish()
}

pub async fn show(
    req: HttpRequest,
    csrf: CsrfToken,
    query: web::Query<SsoQuery>,
) -> Result<HttpResponse, PageError> {
    render(
        StatusCode::OK,
        &SsoPage {
            csrf_token: csrf.0,
            account: query
                .account
                .as_deref()
                .and_then(|a| AccountName::parse(a).ok())
                .map(|n| n.to_string())
                .unwrap_or_else(|| remembered_account(&req)),
            email: query
                .email
                .as_deref()
                .map(|e| e.chars().take(254).collect())
                .unwrap_or_default(),
            return_to: query.return_to.clone().unwrap_or_default(),
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
    let portal = state.settings.portal_url.as_ref();
    let after = AfterSignIn::from_return_to(form.return_to.as_deref(), portal);
    let page = |status: StatusCode, error: &str| {
        render(
            status,
            &SsoPage {
                csrf_token: csrf.0.clone(),
                account: account.clone(),
                email: email.clone(),
                return_to: after.to_return_to().unwrap_or_default(),
                error: Some(error.to_string()),
            },
        )
    };
    if verify_csrf(&req, &state, form.csrf_token.as_deref()).is_err() {
        return page(StatusCode::FORBIDDEN, messages::FORM_EXPIRED);
    }
    if email.is_empty() {
        return page(StatusCode::UNPROCESSABLE_ENTITY, "Enter your work email.");
    }
    let mut res = match start::begin(
        &state,
        account.clone(),
        email.clone(),
        after.clone(),
        meta.0,
    )
    .await
    {
        Ok(redirect) => {
            use secrecy::ExposeSecret;
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, redirect.url))
                .finish();
            let flow = match redirect.binding {
                FlowBinding::Oidc(flow_state) => cookie(
                    &state,
                    FLOW_COOKIE,
                    flow_state.expose_secret().to_string(),
                    "/sso",
                    flow_cookie_age(),
                ),
                FlowBinding::Saml(relay_state) => {
                    saml_flow_cookie(&state, relay_state.expose_secret().to_string())
                }
            };
            let _ = res.add_cookie(&flow);
            res
        }
        Err(ServiceError::SignIn(refusal)) => {
            let status = StatusCode::from_u16(refusal.status(Step::Form))
                .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            page(status, &refusal.to_string())?
        }
        Err(e) => return Err(e.into()),
    };
    if let Ok(name) = AccountName::parse(&account) {
        let _ = res.add_cookie(&cookie(
            &state,
            ACCOUNT_COOKIE,
            name.to_string(),
            "/login",
            actix_web::cookie::time::Duration::days(365),
        ));
    }
    Ok(res)
}

/// `GET /sso/oidc/callback`: the end of an Entra sign-in, or step 1 of admin consent.
pub async fn oidc_callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<Callback>,
    csrf: CsrfToken,
    meta: Meta,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    let flow_cookie = req.cookie(FLOW_COOKIE).map(|c| c.value().to_string());
    let current_user = match &user.view {
        session::SessionView::SignedIn(s) => Some(s.user_id.to_string()),
        _ => None,
    };
    let outcome = entra::complete(
        &state,
        query.into_inner(),
        flow_cookie,
        current_user,
        meta.0,
    )
    .await?;
    let mut res = match outcome {
        CallbackOutcome::SignedIn(done) => {
            session::sign_in(&user.session, &done.signed_in)
                .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
            see_other(&done.after.location())
        }
        CallbackOutcome::ConsentRedirect {
            url,
            state: consent_state,
        } => {
            use secrecy::ExposeSecret;
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, url))
                .finish();
            let flow = cookie(
                &state,
                CONSENT_COOKIE,
                consent_state.expose_secret().to_string(),
                "/admin-consent",
                flow_cookie_age(),
            );
            let _ = res.add_cookie(&flow);
            res
        }
        CallbackOutcome::Refused(refusal) => {
            let status = StatusCode::from_u16(refusal.status(Step::Answer))
                .unwrap_or(StatusCode::UNAUTHORIZED);
            render(
                status,
                &SsoPage {
                    csrf_token: csrf.0,
                    account: remembered_account(&req),
                    email: String::new(),
                    return_to: String::new(),
                    error: Some(refusal.to_string()),
                },
            )?
        }
    };
    let _ = res.add_removal_cookie(&cookie(
        &state,
        FLOW_COOKIE,
        String::new(),
        "/sso",
        actix_web::cookie::time::Duration::ZERO,
    ));
    Ok(res)
}

#[derive(serde::Deserialize)]
pub struct ConsentStartForm {
    csrf_token: Option<String>,
}

/// `POST /admin-consent/start`: the "Connect Microsoft Entra ID" button (account admins only).
///
/// # Security
/// A POST with the form's `csrf_token`, never a GET: otherwise any site could start a consent
/// flow in an admin's browser (login CSRF onto the admin's Microsoft session).
pub async fn admin_consent_start(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    meta: Meta,
    form: web::Form<ConsentStartForm>,
) -> Result<HttpResponse, PageError> {
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let redirect = admin_consent::start(&state, &user.signed_in).await?;
    admin_consent::audit_start(&state, &user.signed_in, meta.0).await?;
    use secrecy::ExposeSecret;
    let mut res = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, redirect.url))
        .finish();
    let _ = res.add_cookie(&cookie(
        &state,
        FLOW_COOKIE,
        redirect.state.expose_secret().to_string(),
        "/sso",
        flow_cookie_age(),
    ));
    Ok(res)
}

/// `GET /admin-consent/callback`: the consent redirect URI.
pub async fn admin_consent_callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ConsentCallback>,
    meta: Meta,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    let flow_cookie = req.cookie(CONSENT_COOKIE).map(|c| c.value().to_string());
    let current = match &user.view {
        session::SessionView::SignedIn(s) => Some(s.clone()),
        _ => None,
    };
    let outcome =
        admin_consent::complete(&state, query.into_inner(), flow_cookie, current, meta.0).await?;
    let mut res = match outcome {
        Ok(view) => see_other(&format!("/admin/entra?connected={}", view.tenant_id)),
        Err(text) => crate::routes::errors::error_page(
            StatusCode::BAD_REQUEST,
            "Microsoft Entra ID was not connected",
            &text,
        ),
    };
    let _ = res.add_removal_cookie(&cookie(
        &state,
        CONSENT_COOKIE,
        String::new(),
        "/admin-consent",
        actix_web::cookie::time::Duration::ZERO,
    ));
    Ok(res)
}

/// The flow cookie lives as long as the login flow it binds (`sso::flow::FLOW_LIFETIME`).
fn flow_cookie_age() -> actix_web::cookie::time::Duration {
    actix_web::cookie::time::Duration::seconds(
        crate::services::sso::flow::FLOW_LIFETIME.num_seconds(),
    )
}
