//! `GET|POST /oauth2/authorize` and `GET /oauth2/authorize/continue?request=<id>` (SPEC §7.2).
//! Thin: the decision is `services::provider::authorize`; this reads the session and renders
//! the answer — a redirect, an auto-submitting form (`response_mode=form_post`), a sign-in
//! redirect, or an error page.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use askama::Template;

use crate::auth::session::{self, SessionView};
use crate::oidc_provider::authorize_request::{redirect_with, AuthorizeParams, ResponseMode};
use crate::routes::errors::{error_page, PageError};
use crate::routes::extract::MaybeUser;
use crate::services::provider::authorize::{self, AuthorizeOutcome, BrowserSession};
use crate::services::ServiceError;
use crate::AppState;

#[derive(Template)]
#[template(path = "oidc_form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    fields: Vec<(&'static str, String)>,
}

#[derive(serde::Deserialize)]
pub struct ContinueQuery {
    request: Option<String>,
}

/// `GET /oauth2/authorize` (parameters in the query).
pub async fn authorize_get(
    state: web::Data<AppState>,
    params: web::Query<AuthorizeParams>,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    let session = browser_session(&user)?;
    let outcome = authorize::authorize(&state, params.into_inner(), session).await?;
    respond(outcome)
}

/// `POST /oauth2/authorize` (parameters in the form body).
pub async fn authorize_post(
    state: web::Data<AppState>,
    params: web::Form<AuthorizeParams>,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    let session = browser_session(&user)?;
    let outcome = authorize::authorize(&state, params.into_inner(), session).await?;
    respond(outcome)
}

/// `GET /oauth2/authorize/continue?request=<id>`: where the login pages return to.
pub async fn resume(
    state: web::Data<AppState>,
    query: web::Query<ContinueQuery>,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    let Some(id) = query.into_inner().request.filter(|r| r.len() <= 128) else {
        return Ok(respond_page(authorize::REQUEST_EXPIRED));
    };
    let session = browser_session(&user)?;
    let outcome = authorize::resume(&state, id, session).await?;
    respond(outcome)
}

/// The signed-in session with its broker session id (made now for a session from before ids).
fn browser_session(user: &MaybeUser) -> Result<Option<BrowserSession>, PageError> {
    let SessionView::SignedIn(signed_in) = &user.view else {
        return Ok(None);
    };
    let sid = session::session_id(&user.session)
        .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
    Ok(Some(BrowserSession {
        signed_in: signed_in.clone(),
        sid,
    }))
}

fn respond(outcome: AuthorizeOutcome) -> Result<HttpResponse, PageError> {
    match outcome {
        AuthorizeOutcome::Page(text) => Ok(respond_page(text)),
        AuthorizeOutcome::SignIn { location } => Ok(no_store(HttpResponse::SeeOther())
            .insert_header((header::LOCATION, location))
            .finish()),
        AuthorizeOutcome::Reply { reply, params } => match reply.response_mode {
            ResponseMode::Query => Ok(no_store(HttpResponse::SeeOther())
                .insert_header((
                    header::LOCATION,
                    redirect_with(&reply.redirect_uri, &params),
                ))
                .finish()),
            ResponseMode::FormPost => {
                let body = FormPostPage {
                    action: &reply.redirect_uri,
                    fields: params,
                }
                .render()
                .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
                Ok(no_store(HttpResponse::Ok())
                    .content_type("text/html; charset=utf-8")
                    .body(body))
            }
        },
    }
}

fn respond_page(text: &str) -> HttpResponse {
    let mut res = error_page(
        StatusCode::BAD_REQUEST,
        "This sign-in request cannot be used",
        text,
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}
