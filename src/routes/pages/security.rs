//! `/account/security`: own password, TOTP enrollment (the `otpauth://` URI shown as text,
//! confirmation field `code`), recovery codes.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;

use super::render;
use crate::routes::errors::PageError;
use crate::routes::extract::{checked_profile, verify_csrf, CsrfToken, CurrentUser, Meta};
use crate::services::account::security::{self, SecurityOverview};
use crate::services::ServiceError;
use crate::AppState;

#[derive(Template)]
#[template(path = "security.html")]
pub struct SecurityPage {
    pub csrf_token: String,
    pub overview: SecurityOverview,
    /// Fresh recovery codes, shown once.
    pub recovery_codes: Vec<String>,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub reset_disabled: &'static str,
}

#[derive(serde::Deserialize)]
pub struct CodeForm {
    csrf_token: Option<String>,
    code: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct CsrfOnlyForm {
    csrf_token: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct PasswordForm {
    csrf_token: Option<String>,
    current_password: Option<String>,
    new_password: Option<String>,
    confirm_password: Option<String>,
}

/// What to show besides the overview.
#[derive(Default)]
struct Outcome {
    recovery_codes: Vec<String>,
    error: Option<String>,
    notice: Option<String>,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    csrf: CsrfToken,
    status: StatusCode,
    outcome: Outcome,
) -> Result<HttpResponse, PageError> {
    let overview = security::overview(state, user.signed_in.user_id.to_string()).await?;
    let mut outcome = outcome;
    if overview.must_change_password && outcome.notice.is_none() {
        outcome.notice = Some(ServiceError::PasswordChangeRequired.to_string());
    }
    render(
        status,
        &SecurityPage {
            csrf_token: csrf.0,
            overview,
            recovery_codes: outcome.recovery_codes,
            error: outcome.error,
            notice: outcome.notice,
            reset_disabled: crate::domain::messages::RESET_PASSWORD_SSO,
        },
    )
}

/// Shows a user-fixable error on the page; anything else becomes the error page.
async fn page_or_error(
    state: &AppState,
    user: &CurrentUser,
    csrf: CsrfToken,
    err: ServiceError,
) -> Result<HttpResponse, PageError> {
    match err {
        ServiceError::Invalid(_)
        | ServiceError::InvalidOtp
        | ServiceError::WrongCurrentPassword
        | ServiceError::Throttled
        | ServiceError::PasswordResetDisabled
        | ServiceError::Conflict { .. }
        | ServiceError::Csrf => {
            let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
            page(
                state,
                user,
                csrf,
                status,
                Outcome {
                    error: Some(err.to_string()),
                    ..Outcome::default()
                },
            )
            .await
        }
        other => Err(PageError(other)),
    }
}

/// Renders the page after an action: its outcome, or the error it ran into.
async fn respond(
    state: &AppState,
    user: &CurrentUser,
    csrf: CsrfToken,
    result: Result<Outcome, ServiceError>,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(outcome) => page(state, user, csrf, StatusCode::OK, outcome).await,
        Err(e) => page_or_error(state, user, csrf, e).await,
    }
}

/// Fresh recovery codes to show once, with a notice.
fn codes_shown(codes: Vec<String>, notice: &str) -> Outcome {
    Outcome {
        recovery_codes: codes,
        notice: Some(notice.into()),
        error: None,
    }
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    checked_profile(&state, &user.session, &user.signed_in).await?;
    page(&state, &user, csrf, StatusCode::OK, Outcome::default()).await
}

pub async fn confirm_totp(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, PageError> {
    checked_profile(&state, &user.session, &user.signed_in).await?;
    if verify_csrf(&req, &state, form.csrf_token.as_deref()).is_err() {
        return page_or_error(&state, &user, csrf, ServiceError::Csrf).await;
    }
    let code = form
        .code
        .clone()
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect();
    let result = security::confirm_totp(&state, user.signed_in.user_id.to_string(), code, meta.0)
        .await
        .map(|codes| codes_shown(codes, "Two-step verification is on. Save these recovery codes now: each works once, and they are not shown again."));
    respond(&state, &user, csrf, result).await
}

pub async fn regenerate_codes(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<CsrfOnlyForm>,
) -> Result<HttpResponse, PageError> {
    checked_profile(&state, &user.session, &user.signed_in).await?;
    if verify_csrf(&req, &state, form.csrf_token.as_deref()).is_err() {
        return page_or_error(&state, &user, csrf, ServiceError::Csrf).await;
    }
    let result =
        security::regenerate_recovery_codes(&state, user.signed_in.user_id.to_string(), meta.0)
            .await
            .map(|codes| {
                codes_shown(
                    codes,
                    "New recovery codes: the old ones no longer work. Save these now.",
                )
            });
    respond(&state, &user, csrf, result).await
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, PageError> {
    checked_profile(&state, &user.session, &user.signed_in).await?;
    if verify_csrf(&req, &state, form.csrf_token.as_deref()).is_err() {
        return page_or_error(&state, &user, csrf, ServiceError::Csrf).await;
    }
    let form = form.into_inner();
    let new = form.new_password.unwrap_or_default();
    if Some(&new) != form.confirm_password.as_ref() {
        let outcome = Outcome {
            error: Some("The new passwords do not match.".into()),
            ..Outcome::default()
        };
        return page(
            &state,
            &user,
            csrf,
            StatusCode::UNPROCESSABLE_ENTITY,
            outcome,
        )
        .await;
    }
    let current = SecretString::from(form.current_password.unwrap_or_default());
    let result = security::change_password(
        &state,
        user.signed_in.user_id.to_string(),
        current,
        SecretString::from(new),
        meta.0,
    )
    .await
    .map(|()| Outcome {
        notice: Some("Your password was changed. You were signed out everywhere else.".into()),
        ..Outcome::default()
    });
    if result.is_ok() {
        // Every session of the user was ended; this one goes on under a fresh id.
        crate::auth::session::keep_after_password_change(&user.session, &user.signed_in)
            .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
    }
    respond(&state, &user, csrf, result).await
}
