//! Per-request plumbing: request id (header, log, task-local), the CSRF cookie, security
//! headers, request counters and the access log line (with the path as it may be shown).

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage, HttpRequest};

use crate::auth::csrf;
use crate::clock::Stopwatch;
use crate::crypto::tokens::random_token;
use crate::request_id;
use crate::AppState;

/// The id of this request (also in the `X-Request-Id` response header).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Whether `e` is actix-session's opaque 500 for a session store that failed (Redis or the
/// database unreachable): it loads, saves, updates or deletes through the store.
fn session_store_failed(e: &Error) -> bool {
    use actix_session::storage::{SaveError, UpdateError};
    use actix_web::error::InternalError;
    e.as_error::<InternalError<anyhow::Error>>().is_some()
        || e.as_error::<InternalError<SaveError>>().is_some()
        || e.as_error::<InternalError<UpdateError>>().is_some()
}

/// Sessions cannot be read or written: the request fails closed (nobody is signed in) with a
/// clear answer and a time to come back, never a bare 500 that a page could loop on.
#[derive(Debug, thiserror::Error)]
#[error("{}", crate::domain::messages::TEMPORARILY_UNAVAILABLE)]
struct SessionsUnavailable {
    api: bool,
    request_id: String,
}

impl actix_web::ResponseError for SessionsUnavailable {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let message = self.to_string();
        let mut res = if self.api {
            super::errors::json_error(self.status_code(), "temporarily_unavailable", &message)
        } else {
            super::errors::error_page(self.status_code(), "Temporarily unavailable", &message)
        };
        let headers = res.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            headers.insert(HeaderName::from_static("x-request-id"), value);
        }
        res
    }
}

/// The browser's CSRF cookie value (made for this response when the browser had none).
#[derive(Debug, Clone)]
pub struct CsrfCookie(pub String);

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Stopwatch::start();
    let id = request_id::generate();
    let secure = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.is_https())
        .unwrap_or(false);
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    let operator_api = req.path().starts_with("/api/");
    // The operator and portal API has no forms: its answers carry no CSRF cookie (one random
    // token and a Set-Cookie fewer per call).
    let fresh_csrf = if operator_api {
        None
    } else {
        let existing = req
            .cookie(csrf::COOKIE_NAME)
            .map(|c| c.value().to_string())
            .filter(|v| (16..=128).contains(&v.len()));
        let (csrf_value, fresh) = match existing {
            Some(v) => (v, false),
            None => (random_token(24), true),
        };
        req.extensions_mut().insert(CsrfCookie(csrf_value.clone()));
        fresh.then_some(csrf_value)
    };

    let api = operator_api || req.path().starts_with("/oauth2/");
    let mut res = match request_id::scope(id.clone(), next.call(req)).await {
        Ok(res) => res,
        Err(e) if session_store_failed(&e) => {
            log::error!("request_id={id} code=sessions_unavailable session store failed: {e:?}");
            log::info!(target: "access", "{id} - \"- -\" 503 - {:.3}ms", started.elapsed_ms());
            return Err(SessionsUnavailable {
                api,
                request_id: id,
            }
            .into());
        }
        Err(e) => return Err(e),
    };

    if let Some(csrf_value) = fresh_csrf {
        let cookie = Cookie::build(csrf::COOKIE_NAME, csrf_value)
            .path("/")
            .http_only(true)
            .secure(secure)
            .same_site(SameSite::Lax)
            .finish();
        let _ = res.response_mut().add_cookie(&cookie);
    }
    let headers = res.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if let Some(metrics) = metrics {
        metrics.response(res.status().as_u16());
    }
    access_log(&id, &res, started);
    Ok(res)
}

/// One line per answered request: request id, peer, request line without its query (OIDC
/// callbacks carry codes there) and with secret path segments replaced by their pattern,
/// status, body bytes (`-` when streamed) and time to the answer's head.
fn access_log<B: MessageBody>(id: &str, res: &ServiceResponse<B>, started: Stopwatch) {
    if !log::log_enabled!(target: "access", log::Level::Info) {
        return;
    }
    let req = res.request();
    let peer = req.peer_addr();
    let peer: &dyn std::fmt::Display = match &peer {
        Some(addr) => &addr.ip(),
        None => &"-",
    };
    let size = match res.response().body().size() {
        actix_web::body::BodySize::Sized(n) => Some(n),
        actix_web::body::BodySize::None => Some(0),
        actix_web::body::BodySize::Stream => None,
    };
    let bytes: &dyn std::fmt::Display = match &size {
        Some(n) => n,
        None => &"-",
    };
    log::info!(
        target: "access",
        "{id} {peer} \"{} {}\" {} {bytes} {:.3}ms",
        req.method(),
        loggable_path(req),
        res.status().as_u16(),
        started.elapsed_ms()
    );
}

/// The request path as the access log shows it: a path that carries a secret shows its route
/// pattern instead (`/invite/{token}`). It is masked when the invitation route matched
/// (whatever the spelling that reached it, such as `/%69nvite/…`) and whenever its first
/// segment reads `invite` once percent-decoded, routed or not (`//invite/…`, `/invite%2F…`):
/// a token from a mangled link is still a token.
///
/// # Security
/// SPEC §3.8: invitation links are never logged in clear; whoever reads the logs could otherwise
/// accept a pending invitation and choose the user's password.
pub fn loggable_path(req: &HttpRequest) -> &str {
    let path = req.path();
    if req.match_info().get(INVITATION_SEGMENT).is_some() || names_invitation(path) {
        "/invite/{token}"
    } else {
        path
    }
}

/// Whether the first non-empty segment of `path`, percent-decoded, is `invite`.
fn names_invitation(path: &str) -> bool {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .split('/')
        .find(|segment| !segment.is_empty())
        .is_some_and(|segment| segment.eq_ignore_ascii_case("invite"))
}

/// The invitation route, the one route whose path holds a secret (`routes::configure`).
pub const INVITATION_ROUTE: &str = "/invite/{token}";
/// Its secret segment.
const INVITATION_SEGMENT: &str = "token";

#[cfg(test)]
mod tests {
    use actix_web::{test, web, App, HttpRequest, HttpResponse};

    use super::{loggable_path, INVITATION_ROUTE};

    /// What the access log would show for `uri` in an app with the invitation route.
    async fn logged(uri: &str) -> String {
        let app = test::init_service(
            App::new()
                .default_service(web::to(show))
                .route(INVITATION_ROUTE, web::get().to(show)),
        )
        .await;
        let res = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        String::from_utf8(test::read_body(res).await.to_vec()).unwrap()
    }

    async fn show(req: HttpRequest) -> HttpResponse {
        HttpResponse::Ok().body(loggable_path(&req).to_string())
    }

    #[actix_web::test]
    async fn invitation_tokens_are_not_in_the_logged_path() {
        for uri in [
            "/invite/s3cr3t-token",
            "/invite/",
            "/invite/s3cr3t-token/extra",
            // Percent-encoded, the path still reaches the invitation route.
            "/%69nvite/s3cr3t-token",
            // Mangled links that reach no route still carry the token.
            "//invite/s3cr3t-token",
            "/%69nvite/s3cr3t-token/",
            "/invite%2Fs3cr3t-token",
            "/INVITE/s3cr3t-token",
        ] {
            assert_eq!(logged(uri).await, "/invite/{token}", "{uri}");
        }
        assert_eq!(logged("/login/sso").await, "/login/sso");
        assert_eq!(logged("/admin/users/invite").await, "/admin/users/invite");
        assert_eq!(
            logged("/api/v1/accounts/acme/users").await,
            "/api/v1/accounts/acme/users"
        );
    }
}
