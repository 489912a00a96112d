//! `/logout`: a confirmation form (GET) and the sign-out itself (POST, CSRF-checked), which
//! also ends the session's OpenID Provider grants and triggers back-channel logout.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::auth::session::{self, SessionView};
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{verify_csrf, CsrfToken, MaybeUser, Meta};
use crate::services::provider::logout::{self, CurrentSession};
use crate::services::ServiceError;
use crate::AppState;

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage {
    pub csrf_token: String,
}

#[derive(serde::Deserialize)]
pub struct LogoutForm {
    csrf_token: Option<String>,
}

pub async fn show(csrf: CsrfToken, user: MaybeUser) -> Result<HttpResponse, PageError> {
    if !matches!(user.view, SessionView::SignedIn(_)) {
        return Ok(see_other("/login"));
    }
    render(StatusCode::OK, &LogoutPage { csrf_token: csrf.0 })
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LogoutForm>,
    meta: Meta,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    if let SessionView::SignedIn(signed_in) = &user.view {
        // The broker session's grants end and its clients are told (SPEC §7.2).
        let sid = session::session_id(&user.session)
            .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
        let current = CurrentSession {
            user_id: signed_in.user_id.to_string(),
            sid,
        };
        logout::log_out(&state, &current, meta.0).await?;
    }
    user.session.purge();
    Ok(see_other("/login?signed_out=1"))
}
