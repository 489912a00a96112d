//! SAML endpoints of the broker (SPEC §6.4): the ACS `POST /sso/saml/acs/{connection_id}`
//! (HTTP-POST binding, a cross-site POST from the IdP: no CSRF token, no session cookie — the
//! signature and the single-use RelayState stand in for both) and the SP metadata.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::render;
use super::sso::{saml_flow_cookie, SsoPage, SAML_FLOW_COOKIE};
use crate::auth::session;
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{CsrfToken, MaybeUser, Meta};
use crate::services::sign_in::failure::{SignInFailure, Step};
use crate::services::sso::saml::{self, AcsForm};
use crate::services::ServiceError;
use crate::AppState;

/// Largest ACS form body (the SAMLResponse limit plus the RelayState).
pub const ACS_FORM_LIMIT: usize = crate::sso::saml::xml_guard::MAX_ENCODED_LEN + 4096;

fn refused(csrf: CsrfToken, refusal: &SignInFailure) -> Result<HttpResponse, PageError> {
    let status =
        StatusCode::from_u16(refusal.status(Step::Answer)).unwrap_or(StatusCode::UNAUTHORIZED);
    render(
        status,
        &SsoPage {
            csrf_token: csrf.0,
            account: String::new(),
            email: String::new(),
            return_to: String::new(),
            error: Some(refusal.to_string()),
        },
    )
}

/// `POST /sso/saml/acs/{connection_id}`.
pub async fn acs(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Result<web::Form<AcsForm>, actix_web::Error>,
    csrf: CsrfToken,
    meta: Meta,
    user: MaybeUser,
) -> Result<HttpResponse, PageError> {
    let form = match form {
        Ok(form) => form.into_inner(),
        Err(e) => {
            log::info!(
                "request_id={} ACS body refused: {}",
                meta.0.request_id,
                e.to_string().escape_debug()
            );
            return refused(csrf, &SignInFailure::NoSamlResponse);
        }
    };
    let flow_cookie = req.cookie(SAML_FLOW_COOKIE).map(|c| c.value().to_string());
    let mut res = match saml::complete(&state, path.into_inner(), form, flow_cookie, meta.0).await {
        Ok(done) => {
            session::sign_in(&user.session, &done.signed_in)
                .map_err(|e| PageError(ServiceError::Internal(e.into())))?;
            see_other(&done.after.location())
        }
        Err(ServiceError::SignIn(refusal)) => refused(csrf, &refusal)?,
        Err(e) => return Err(e.into()),
    };
    let _ = res.add_removal_cookie(&saml_flow_cookie(&state, String::new()));
    Ok(res)
}

/// `GET /sso/saml/metadata/{connection_id}`: our SP metadata, for the IdP admin.
pub async fn sp_metadata(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(PageError(connection_not_found()));
    }
    match crate::services::connections::saml::sp_metadata(&state, id).await? {
        Some(xml) => Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "application/samlmetadata+xml"))
            .body(xml)),
        None => Err(PageError(connection_not_found())),
    }
}

fn connection_not_found() -> ServiceError {
    ServiceError::NotFound {
        code: "connection_not_found",
        message: "There is no SAML connection here.",
    }
}
