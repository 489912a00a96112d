//! `GET|POST /oauth2/logout` (RP-Initiated Logout 1.0, SPEC §7.2). Thin: the decision is
//! `services::provider::logout`; this reads the session, checks the confirmation form's CSRF
//! token, purges the browser's session and renders a redirect, the confirmation page or an
//! error page.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use crate::auth::session::{self, SessionView};
use crate::routes::errors::{error_page, PageError};
use crate::routes::extract::{verify_csrf, CsrfToken, MaybeUser, Meta};
use crate::routes::pages::render;
use crate::services::provider::logout::{
    self, CheckedLogout, CurrentSession, LogoutDecision, LogoutParams,
};
use crate::services::ServiceError;
use crate::AppState;

/// Where a logout without a `post_logout_redirect_uri` ends (as `POST /logout`).
const SIGNED_OUT: &str = "/login?signed_out=1";

#[derive(Template)]
#[template(path = "oidc_logout.html")]
struct ConfirmPage<'a> {
    csrf_token: &'a str,
    request: &'a CheckedLogout,
}

/// `GET /oauth2/logout` (parameters in the query; never a confirmation).
pub async fn logout_get(
    state: web::Data<AppState>,
    params: web::Query<LogoutParams>,
    csrf: CsrfToken,
    user: MaybeUser,
    meta: Meta,
) -> Result<HttpResponse, PageError> {
    let mut params = params.into_inner();
    params.confirm = None;
    handle(&state, params, false, csrf, user, meta).await
}

/// `POST /oauth2/logout`: a relying party's form, or the user's confirmation (`confirm` with
/// this browser's CSRF token).
pub async fn logout_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    params: web::Form<LogoutParams>,
    csrf: CsrfToken,
    user: MaybeUser,
    meta: Meta,
) -> Result<HttpResponse, PageError> {
    let params = params.into_inner();
    let confirmed = params.confirm.is_some();
    if confirmed {
        verify_csrf(&req, &state, params.csrf_token.as_deref())?;
    }
    handle(&state, params, confirmed, csrf, user, meta).await
}

async fn handle(
    state: &AppState,
    params: LogoutParams,
    confirmed: bool,
    csrf: CsrfToken,
    user: MaybeUser,
    meta: Meta,
) -> Result<HttpResponse, PageError> {
    let current = current_session(&user)?;
    match logout::decide(state, params, current.as_ref(), confirmed).await? {
        LogoutDecision::Refused(text) => Ok(no_store(error_page(
            StatusCode::BAD_REQUEST,
            "This sign-out request cannot be used",
            text,
        ))),
        LogoutDecision::Confirm(request) => render(
            StatusCode::OK,
            &ConfirmPage {
                csrf_token: &csrf.0,
                request: &request,
            },
        )
        .map(no_store),
        LogoutDecision::LogOut(request) => {
            if let Some(current) = &current {
                logout::log_out(state, current, meta.0).await?;
            }
            user.session.purge();
            Ok(go_on(&request))
        }
        LogoutDecision::SignedOut(request) => Ok(go_on(&request)),
    }
}

/// The signed-in session with its broker session id.
fn current_session(user: &MaybeUser) -> Result<Option<CurrentSession>, PageError> {
    let SessionView::SignedIn(signed_in) = &user.view else {
        return Ok(None);
    };
    let sid = session::session_id(&user.session)
        .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
    Ok(Some(CurrentSession {
        user_id: signed_in.user_id.to_string(),
        sid,
    }))
}

fn go_on(request: &CheckedLogout) -> HttpResponse {
    let location = request
        .after_logout()
        .unwrap_or_else(|| SIGNED_OUT.to_string());
    no_store(
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .finish(),
    )
}

fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}
