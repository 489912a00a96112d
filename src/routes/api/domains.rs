//! Operator API for an account's domains (SPEC §6.3): claim (optionally marked verified),
//! list, and verify by DNS now.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::domain::domain_verification::VerificationOutcome;
use crate::routes::errors::{json_error, ApiError};
use crate::routes::extract::{Meta, Operator};
use crate::services::admin::domains;
use crate::AppState;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainBody {
    domain: String,
    #[serde(default)]
    verified: bool,
}

pub async fn add(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
    body: web::Json<DomainBody>,
) -> Result<HttpResponse, ApiError> {
    let view = domains::claim(
        &state,
        path.into_inner(),
        &body.domain,
        body.verified,
        op.actor,
        meta.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(view))
}

pub async fn list(
    state: web::Data<AppState>,
    _op: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let views = domains::list(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(views))
}

/// `200` with the domain and `result` (`verified`, `already_verified`, `txt_missing`,
/// `txt_mismatch`) and the admin's sentence; `502 dns_unreachable` when DNS gave no answer.
pub async fn verify(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (account, domain) = path.into_inner();
    let verification = domains::verify(&state, account, &domain, op.actor, meta.0).await?;
    let message = verification.message();
    if verification.outcome == VerificationOutcome::DnsUnreachable {
        return Ok(json_error(
            StatusCode::BAD_GATEWAY,
            verification.outcome.code(),
            &message,
        ));
    }
    let mut body = serde_json::to_value(&verification.domain)
        .map_err(|e| ApiError(crate::services::ServiceError::Internal(e.into())))?;
    body["result"] = verification.outcome.code().into();
    body["message"] = message.into();
    Ok(HttpResponse::Ok().json(body))
}
