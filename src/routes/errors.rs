//! How errors reach people: HTML pages render `templates/error.html` with the request id; the
//! JSON API answers `{"error": code, "message": text}`. Causes go to the log only.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use askama::Template;

use crate::request_id;
use crate::services::ServiceError;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    title: &'a str,
    message: &'a str,
    request_id: &'a str,
    /// A next step the page offers: link and label.
    action: Option<(String, &'a str)>,
}

/// Renders the error page.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> HttpResponse {
    error_page_with_action(status, title, message, None)
}

/// Renders the error page with a next step (`href`, label).
pub fn error_page_with_action(
    status: StatusCode,
    title: &str,
    message: &str,
    action: Option<(String, &str)>,
) -> HttpResponse {
    let id = request_id::current();
    let body = ErrorTemplate {
        title,
        message,
        request_id: &id,
        action,
    }
    .render()
    .unwrap_or_else(|_| format!("{message} (request id {id})"));
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn log_error(err: &ServiceError) {
    let id = request_id::current();
    if err.status() >= 500 {
        let mut chain = String::new();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            chain.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        log::error!("request_id={id} code={} {err:?}{chain}", err.code());
    } else {
        log::info!("request_id={id} code={}", err.code());
    }
}

fn status_of(err: &ServiceError) -> StatusCode {
    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A service error on an HTML route.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageError(#[from] pub ServiceError);

/// The status of an error page. SSO pages of an account the operator has not offered SSO to
/// are `404`: for that account they do not exist (and nothing links to them); the API's `409`
/// tells a program the resource exists but is closed.
fn page_status(err: &ServiceError) -> StatusCode {
    match err {
        ServiceError::SsoNotAvailable => StatusCode::NOT_FOUND,
        other => status_of(other),
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        page_status(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        log_error(&self.0);
        match &self.0 {
            ServiceError::SignInRequired => see_other("/login"),
            ServiceError::SessionExpired => see_other("/login?expired=1"),
            ServiceError::PasswordChangeRequired => {
                see_other("/account/security?change_password=1")
            }
            err @ ServiceError::AccountSignInRequired { account, email, .. } => {
                // Log in with SSO, prefilled for the account the user asked for (SPEC §3.8).
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("account", account)
                    .append_pair("email", email)
                    .finish();
                error_page_with_action(
                    status_of(err),
                    "Sign in to this account",
                    &err.to_string(),
                    Some((format!("/login/sso?{query}"), "Log in with SSO")),
                )
            }
            err @ ServiceError::SsoNotAvailable => {
                error_page(page_status(err), "SSO is not available", &err.to_string())
            }
            err @ ServiceError::Busy => {
                let mut res = error_page(status_of(err), "Busy", &err.to_string());
                retry_soon(&mut res);
                res
            }
            err @ ServiceError::Unavailable(_) => {
                let title = "Temporarily unavailable";
                let mut res = error_page(status_of(err), title, &err.to_string());
                retry_soon(&mut res);
                res
            }
            err => error_page(status_of(err), "Something is not right", &err.to_string()),
        }
    }
}

/// Tells the client to try again in a few seconds (a 503 of the password pool).
pub fn retry_soon(res: &mut HttpResponse) {
    res.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
}

/// How long a client waits after a 503 `busy`.
const RETRY_AFTER_SECONDS: &str = "2";

/// A service error on a JSON route.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub ServiceError);

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        log_error(&self.0);
        let mut res = json_error(status_of(&self.0), self.0.code(), &self.0.to_string());
        if matches!(self.0, ServiceError::Busy | ServiceError::Unavailable(_)) {
            retry_soon(&mut res);
        }
        res
    }
}

pub fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(serde_json::json!({ "error": code, "message": message }))
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A request body or parameter that could not be read; answered as JSON under `/api/`,
/// as a page elsewhere.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BadRequest {
    status: StatusCode,
    code: &'static str,
    message: String,
    json: bool,
}

impl ResponseError for BadRequest {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        // The message can quote what the client sent: escaped, it cannot forge log lines or
        // send terminal escapes.
        log::info!(
            "request_id={} code={} {}",
            request_id::current(),
            self.code,
            self.message.escape_debug()
        );
        if self.json {
            json_error(self.status, self.code, &self.message)
        } else {
            error_page(self.status, "The request could not be read", &self.message)
        }
    }
}

fn is_api(req: &HttpRequest) -> bool {
    req.path().starts_with("/api/")
}

pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(16 * 1024)
        .error_handler(|err, req| {
            let (status, code, message) = match err {
                UrlencodedError::Overflow { .. } => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "The form is too large.".to_string(),
                ),
                UrlencodedError::ContentType => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Send the form as application/x-www-form-urlencoded.".to_string(),
                ),
                _ => (
                    StatusCode::BAD_REQUEST,
                    "invalid_form",
                    "The form could not be read. Go back, reload the page and try again."
                        .to_string(),
                ),
            };
            BadRequest {
                status,
                code,
                message,
                json: is_api(req),
            }
            .into()
        })
}

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _req| {
            let (status, code, message) = match &err {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "The request body is too large (64 KiB at most).".to_string(),
                ),
                JsonPayloadError::ContentType => (
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Send the body as application/json.".to_string(),
                ),
                                // serde's text can quote the offending value (a password, say): name the line
                // and column only.
                JsonPayloadError::Deserialize(e) => (
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    format!("The JSON body is not valid (line {}, column {}): check field names and types.", e.line(), e.column()),
                ),
                _ => (
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "The JSON body could not be read.".to_string(),
                ),
            };
            BadRequest {
                status,
                code,
                message,
                json: true,
            }
            .into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, req| {
        BadRequest {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_query",
            message: format!("The query string is not valid: {err}"),
            json: is_api(req),
        }
        .into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err: PathError, req| {
        BadRequest {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: "Nothing is here.".to_string(),
            json: is_api(req),
        }
        .into()
    })
}

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if is_api(&req) {
        json_error(StatusCode::NOT_FOUND, "not_found", "No such endpoint.")
    } else {
        error_page(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is no page at this address.",
        )
    }
}
