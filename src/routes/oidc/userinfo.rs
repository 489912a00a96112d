//! `GET|POST /oauth2/userinfo` (SPEC §7.2): the bearer access token from the `Authorization`
//! header or the form body (RFC 6750 §2.1, §2.2), the claims from
//! `services::provider::userinfo`, RFC 6750 §3 challenges otherwise.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::routes::oidc::token::no_store;
use crate::services::provider::userinfo;
use crate::AppState;

#[derive(serde::Deserialize)]
pub struct UserinfoForm {
    access_token: Option<String>,
}

/// `GET /oauth2/userinfo`.
pub async fn userinfo_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    answer(&state, bearer_of(&req), None).await
}

/// `POST /oauth2/userinfo`: the token may also come in the form body.
pub async fn userinfo_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: Option<web::Form<UserinfoForm>>,
) -> HttpResponse {
    let body = form.and_then(|f| f.into_inner().access_token);
    answer(&state, bearer_of(&req), body).await
}

/// The token of an `Authorization: Bearer` header.
fn bearer_of(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

async fn answer(state: &AppState, header: Option<String>, body: Option<String>) -> HttpResponse {
    let token = match (header, body) {
        (Some(_), Some(_)) => {
            // RFC 6750 §2: a client must not use more than one method.
            return challenge(StatusCode::BAD_REQUEST, Some("invalid_request"));
        }
        (Some(t), None) | (None, Some(t)) if !t.is_empty() => t,
        _ => return challenge(StatusCode::UNAUTHORIZED, None),
    };
    match userinfo::userinfo(state, &token).await {
        Ok(Some(claims)) => no_store(HttpResponse::Ok()).json(claims),
        Ok(None) => challenge(StatusCode::UNAUTHORIZED, Some("invalid_token")),
        Err(e) => {
            log::error!(
                "request_id={} userinfo failed: {e:?}",
                crate::request_id::current()
            );
            no_store(HttpResponse::InternalServerError()).finish()
        }
    }
}

/// An RFC 6750 §3 challenge: `Bearer`, with `error` when a token was presented.
fn challenge(status: StatusCode, error: Option<&str>) -> HttpResponse {
    let value = match error {
        Some(error) => format!("Bearer error=\"{error}\""),
        None => "Bearer".to_string(),
    };
    no_store(HttpResponse::build(status))
        .insert_header((header::WWW_AUTHENTICATE, value))
        .finish()
}
