//! `/login`: username-or-email + password (SPEC §3.1, §6.4 fields `username`, `password`). A full
//! sign-in (here or at `/login/otp`) leaves a device cookie (`auth::device_cookie`).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;

use super::render;
use crate::auth::device_cookie;
use crate::auth::session::{self, PendingSecondFactor, SessionView};
use crate::domain::{messages, AfterSignIn};
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{verify_csrf, CsrfToken, MaybeUser, Meta};
use crate::services::sign_in::password::{password_step, PasswordOutcome};
use crate::services::ServiceError;
use crate::AppState;

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub csrf_token: String,
    pub username: String,
    pub return_to: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
    signed_out: Option<String>,
    invited: Option<String>,
    return_to: Option<String>,
    /// Prefills the username (an OpenID Provider `login_hint`).
    username: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    csrf_token: Option<String>,
    username: Option<String>,
    password: Option<String>,
    return_to: Option<String>,
}

/// The device cookie the browser sent, if any (checked by the login service).
pub(crate) fn device_cookie_of(req: &HttpRequest) -> Option<String> {
    req.cookie(device_cookie::COOKIE_NAME)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() <= 256)
}

/// A fresh device cookie for `user_id`, sent back only to the sign-in pages.
pub(crate) fn device_cookie_for(state: &AppState, user_id: &str) -> Cookie<'static> {
    let value = device_cookie::issue(
        &state.keys.device_cookie,
        user_id,
        state.clock.now().timestamp(),
    );
    Cookie::build(device_cookie::COOKIE_NAME, value)
        .path("/login")
        .http_only(true)
        .secure(state.settings.is_https())
        .same_site(SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::seconds(
            device_cookie::LIFETIME.num_seconds(),
        ))
        .finish()
}

/// Largest password we will hash when verifying (Argon2 input stays small).
const MAX_PASSWORD_BYTES: usize = 1024;

pub async fn show(
    state: web::Data<AppState>,
    query: web::Query<LoginQuery>,
    csrf: CsrfToken,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    let after = AfterSignIn::from_return_to(
        query.return_to.as_deref(),
        state.settings.portal_url.as_ref(),
    );
    // Signed in already: straight on to what the sign-in was for — unless an authorization
    // request sent the browser here for a new sign-in (`prompt=login`, `max_age`, or an
    // account that does not admit this session): then the form.
    let fresh_sign_in_wanted = matches!(after, AfterSignIn::Authorize(_));
    if matches!(user.view, SessionView::SignedIn(_)) && !fresh_sign_in_wanted {
        return Ok(see_other(&after.location()));
    }
    let notice = if query.expired.is_some() || user.view == SessionView::Expired {
        Some(messages::SESSION_EXPIRED.to_string())
    } else if query.signed_out.is_some() {
        Some("You are signed out.".to_string())
    } else if query.invited.is_some() {
        Some("Your password is set. Sign in with your username and password.".to_string())
    } else {
        None
    };
    render(
        StatusCode::OK,
        &LoginPage {
            csrf_token: csrf.0,
            username: query
                .username
                .as_deref()
                .map(|u| u.trim().chars().take(254).collect())
                .unwrap_or_default(),
            return_to: after.to_return_to().unwrap_or_default(),
            error: None,
            notice,
        },
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
    csrf: CsrfToken,
    meta: Meta,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    let username = form.username.unwrap_or_default().trim().to_string();
    let after = AfterSignIn::from_return_to(
        form.return_to.as_deref(),
        state.settings.portal_url.as_ref(),
    );
    let page = |status: StatusCode, error: &str| {
        render(
            status,
            &LoginPage {
                csrf_token: csrf.0.clone(),
                username: username.chars().take(254).collect(),
                return_to: after.to_return_to().unwrap_or_default(),
                error: Some(error.to_string()),
                notice: None,
            },
        )
    };
    if verify_csrf(&req, &state, form.csrf_token.as_deref()).is_err() {
        return page(StatusCode::FORBIDDEN, messages::FORM_EXPIRED);
    }
    let password = form.password.unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter your username or email and your password.",
        );
    }
    if username.len() > 254 || password.len() > MAX_PASSWORD_BYTES {
        return page(StatusCode::UNAUTHORIZED, messages::INVALID_CREDENTIALS);
    }
    match password_step(
        &state,
        username.clone(),
        SecretString::from(password),
        meta.0,
        device_cookie_of(&req),
    )
    .await
    {
        Ok(PasswordOutcome::SignedIn(signed_in)) => {
            session::sign_in(&user.session, &signed_in)
                .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
            let mut res = see_other(&after.location());
            res.add_cookie(&device_cookie_for(&state, signed_in.user_id.as_str()))
                .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
            Ok(res)
        }
        Ok(PasswordOutcome::SecondFactorRequired { user_id }) => {
            let pending = PendingSecondFactor {
                user_id,
                started_at: state.clock.now().timestamp(),
                return_to: after.to_return_to(),
            };
            session::begin_second_factor(&user.session, &pending)
                .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
            Ok(see_other("/login/otp"))
        }
        Err(
            e @ (ServiceError::InvalidCredentials
            | ServiceError::Throttled
            | ServiceError::Busy
            | ServiceError::PasswordLoginDisabled),
        ) => {
            let mut res = page(
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED),
                &e.to_string(),
            )?;
            if matches!(e, ServiceError::Busy) {
                crate::routes::errors::retry_soon(&mut res);
            }
            Ok(res)
        }
        Err(e) => Err(PageError(e)),
    }
}
