//! `/login/otp`: the second step after a password (SPEC §3.1, field `code`). It cannot be
//! skipped: until it succeeds the session holds only a pending step, which no other page
//! accepts as a sign-in.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::auth::session;
use crate::domain::messages;
use crate::domain::AfterSignIn;
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{verify_csrf, CsrfToken, MaybeUser, Meta};
use crate::services::sign_in::second_factor::second_factor_step;
use crate::services::ServiceError;
use crate::AppState;

#[derive(Template)]
#[template(path = "otp.html")]
pub struct OtpPage {
    pub csrf_token: String,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct OtpForm {
    csrf_token: Option<String>,
    code: Option<String>,
}

/// Where to go when there is no live pending step.
fn no_pending_step(user: &MaybeUser) -> HttpResponse {
    if session::has_pending_second_factor(&user.session) {
        user.session.purge();
        see_other("/login?expired=1")
    } else {
        see_other("/login")
    }
}

pub async fn show(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    if session::pending_second_factor(&user.session, state.clock.now()).is_none() {
        return Ok(no_pending_step(&user));
    }
    render(
        StatusCode::OK,
        &OtpPage {
            csrf_token: csrf.0,
            error: None,
        },
    )
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<OtpForm>,
    csrf: CsrfToken,
    meta: Meta,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    let page = |status: StatusCode, error: &str| {
        render(
            status,
            &OtpPage {
                csrf_token: csrf.0.clone(),
                error: Some(error.to_string()),
            },
        )
    };
    if verify_csrf(&req, &state, form.csrf_token.as_deref()).is_err() {
        return page(StatusCode::FORBIDDEN, messages::FORM_EXPIRED);
    }
    let Some(pending) = session::pending_second_factor(&user.session, state.clock.now()) else {
        return Ok(no_pending_step(&user));
    };
    let code = form.code.clone().unwrap_or_default();
    if code.trim().is_empty() || code.len() > 64 {
        return page(StatusCode::UNPROCESSABLE_ENTITY, messages::INVALID_OTP);
    }
    let device = super::login::device_cookie_of(&req);
    match second_factor_step(&state, pending.user_id.clone(), code, meta.0, device).await {
        Ok(signed_in) => {
            session::sign_in(&user.session, &signed_in)
                .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
            let portal = state.settings.portal_url.as_ref();
            let after = AfterSignIn::from_return_to(pending.return_to.as_deref(), portal);
            let mut res = see_other(&after.location());
            res.add_cookie(&super::login::device_cookie_for(
                &state,
                signed_in.user_id.as_str(),
            ))
            .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
            Ok(res)
        }
        Err(e @ (ServiceError::InvalidOtp | ServiceError::Throttled)) => page(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNAUTHORIZED),
            &e.to_string(),
        ),
        Err(ServiceError::SessionExpired) => {
            user.session.purge();
            Ok(see_other("/login?expired=1"))
        }
        Err(e) => Err(PageError(e)),
    }
}
