//! Server-rendered pages (`templates/`). Form field names are stable (SPEC §6.4).

pub mod admin_audit;
pub mod admin_domains;
pub mod admin_entra;
pub mod admin_saml;
pub mod admin_sso;
pub mod admin_users;
pub mod home;
pub mod invite;
pub mod login;
pub mod logout;
pub mod otp;
pub mod saml;
pub mod security;
pub mod sso;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::errors::PageError;
use crate::services::ServiceError;

/// Renders `page` with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, PageError> {
    let body = page
        .render()
        .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}
