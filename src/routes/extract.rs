//! Extractors: the request context, the CSRF check, the signed-in user (pages and API) and the
//! operator token.

use std::future::{ready, Ready};

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use secrecy::SecretString;

use super::errors::{ApiError, PageError};
use super::middleware::{CsrfCookie, RequestId};
use crate::auth::csrf;
use crate::auth::session::{self, SessionView, SignedIn};
use crate::domain::client_address::client_address;
use crate::services::admin::api_tokens;
use crate::services::{RequestMeta, ServiceError};
use crate::AppState;

pub fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ServiceError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("application state missing")))
}

/// Request id and client address, for audit events.
pub struct Meta(pub RequestMeta);

impl FromRequest for Meta {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_else(crate::request_id::generate);
        // Every X-Forwarded-For line, in order (a proxy may add its own line rather than
        // append to the client's).
        let forwarded_for: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect();
        let forwarded_for = (!forwarded_for.is_empty()).then(|| forwarded_for.join(","));
        let trusted = app_state(req)
            .map(|s| s.settings.trusted_proxies.clone())
            .unwrap_or_default();
        let ip = req
            .peer_addr()
            .map(|a| client_address(a.ip(), forwarded_for.as_deref(), &trusted).to_string());
        ready(Ok(Meta(RequestMeta { request_id, ip })))
    }
}

/// The CSRF token for forms on this page.
pub struct CsrfToken(pub String);

impl FromRequest for CsrfToken {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            app_state(req)
                .map(|state| {
                    let cookie = req
                        .extensions()
                        .get::<CsrfCookie>()
                        .map(|c| c.0.clone())
                        .unwrap_or_default();
                    CsrfToken(csrf::form_token(&state.keys.csrf, &cookie))
                })
                .map_err(|e| PageError(e).into()),
        )
    }
}

/// Refuses a form whose `csrf_token` was not made for this browser.
pub fn verify_csrf(
    req: &HttpRequest,
    state: &AppState,
    token: Option<&str>,
) -> Result<(), PageError> {
    // The cookie the browser sent, not one this response is about to set.
    let cookie = req.cookie(csrf::COOKIE_NAME).map(|c| c.value().to_string());
    if csrf::verify(&state.keys.csrf, cookie.as_deref(), token) {
        Ok(())
    } else {
        Err(PageError(ServiceError::Csrf))
    }
}

/// Reads the session at the state's clock; purges an expired one.
/// Reads the session; an expired one is purged, or only emptied when `may_sign_in` (a page
/// that may sign in during this request: actix-session ignores `renew` and `insert` after
/// `purge`, so a sign-in posted with a stale cookie would silently not stick).
fn current_view(
    req: &HttpRequest,
    may_sign_in: bool,
) -> Result<(Session, SessionView), ServiceError> {
    let state = app_state(req)?;
    let session = req.get_session();
    let view = state.session_policy.view(&session, state.clock.now());
    match &view {
        SessionView::Expired if may_sign_in => session.clear(),
        SessionView::Expired => session.purge(),
        SessionView::SignedIn(signed_in) => session::touch(&session, signed_in, state.clock.now()),
        SessionView::Anonymous => {}
    }
    Ok((session, view))
}

fn signed_in(req: &HttpRequest) -> Result<(Session, SignedIn), ServiceError> {
    match current_view(req, false)? {
        (session, SessionView::SignedIn(s)) => Ok((session, s)),
        (_, SessionView::Expired) => Err(ServiceError::SessionExpired),
        (_, SessionView::Anonymous) => Err(ServiceError::SignInRequired),
    }
}

/// The signed-in user of an HTML page; otherwise a redirect to the login page (with the
/// expiry message when the session expired).
pub struct CurrentUser {
    pub session: Session,
    pub signed_in: SignedIn,
}

impl FromRequest for CurrentUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            signed_in(req)
                .map(|(session, signed_in)| CurrentUser { session, signed_in })
                .map_err(|e| PageError(e).into()),
        )
    }
}

/// The signed-in user's profile, even while a temporary password waits to be replaced (the
/// security page, where it is replaced): the same status, membership and connection checks as
/// every page. A session that no longer stands is purged.
pub async fn checked_profile(
    state: &AppState,
    session: &Session,
    signed_in: &SignedIn,
) -> Result<crate::services::account::profile::Profile, ServiceError> {
    let loaded = crate::services::account::profile::load(state, signed_in).await;
    if matches!(loaded, Err(ServiceError::SessionExpired)) {
        session.purge();
    }
    loaded
}

/// The signed-in user's profile; a session whose user was disabled or removed meanwhile is
/// purged (else the login page, still seeing a sign-in, would send the browser back in a loop).
pub async fn current_profile(
    state: &AppState,
    session: &Session,
    signed_in: &SignedIn,
) -> Result<crate::services::account::profile::Profile, ServiceError> {
    match checked_profile(state, session, signed_in).await {
        // Everything but the security page waits for a new password (SPEC §3.5 rollback).
        Ok(p) if p.must_change_password => Err(ServiceError::PasswordChangeRequired),
        other => other,
    }
}

/// The signed-in user of a JSON endpoint; otherwise `401` JSON.
pub struct ApiUser(pub SignedIn, pub Session);

impl FromRequest for ApiUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            signed_in(req)
                .map(|(session, s)| ApiUser(s, session))
                .map_err(|e| ApiError(e).into()),
        )
    }
}

/// The view of the session without requiring a sign-in (login pages).
pub struct MaybeUser {
    pub session: Session,
    pub view: SessionView,
}

impl FromRequest for MaybeUser {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            current_view(req, true)
                .map(|(session, view)| MaybeUser { session, view })
                .map_err(|e| PageError(e).into()),
        )
    }
}

/// An operator API call with a valid bearer token; carries the audit actor.
pub struct Operator {
    pub actor: String,
}

impl FromRequest for Operator {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = app_state(req);
        let presented = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| SecretString::from(t.trim().to_string()));
        Box::pin(async move {
            let state = state.map_err(ApiError)?;
            let Some(token) = presented else {
                return Err(Unauthorized.into());
            };
            match api_tokens::authenticate(&state, &token)
                .await
                .map_err(ApiError)?
            {
                Some(name) => Ok(Operator {
                    actor: format!("api-token:{name}"),
                }),
                None => Err(Unauthorized.into()),
            }
        })
    }
}

/// `401` for a missing or wrong operator token.
#[derive(Debug, thiserror::Error)]
#[error("A valid operator API token is required (Authorization: Bearer <token>).")]
pub struct Unauthorized;

impl actix_web::ResponseError for Unauthorized {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::UNAUTHORIZED
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        log::info!(
            "request_id={} code=invalid_token",
            crate::request_id::current()
        );
        let mut res =
            super::errors::json_error(self.status_code(), "invalid_token", &self.to_string());
        res.headers_mut().insert(
            actix_web::http::header::WWW_AUTHENTICATE,
            actix_web::http::header::HeaderValue::from_static("Bearer"),
        );
        res
    }
}

/// The admin's profile for the SSO, Entra and SAML pages: 403 for anyone but an admin, then
/// the "SSO is not available" page when the operator has not offered SSO to the account
/// (SPEC §3.5).
pub async fn require_sso_admin(
    state: &AppState,
    user: &CurrentUser,
) -> Result<crate::services::account::profile::Profile, PageError> {
    let profile = require_admin(state, user).await?;
    profile.require_sso_available()?;
    Ok(profile)
}

/// The admin's profile, or 403 for anyone else.
pub async fn require_admin(
    state: &AppState,
    user: &CurrentUser,
) -> Result<crate::services::account::profile::Profile, PageError> {
    let profile = current_profile(state, &user.session, &user.signed_in).await?;
    if profile.is_admin() {
        Ok(profile)
    } else {
        Err(PageError(ServiceError::Forbidden))
    }
}
