//! Operator API for connections, approved Entra tenants and token validation (SPEC §6.3).

use actix_web::{web, HttpResponse};

use crate::routes::errors::ApiError;
use crate::routes::extract::{Meta, Operator};
use crate::services::connections;
use crate::services::connections::entra_tenants;
use crate::services::connections::saml::SamlConnectionInput;
use crate::AppState;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionBody {
    kind: String,
    idp_metadata_xml: Option<String>,
    email_attribute: Option<String>,
    allow_idp_initiated: Option<bool>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantBody {
    tenant_id: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateBody {
    token: String,
    account: Option<String>,
}

pub async fn create_connection(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
    body: web::Json<ConnectionBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let saml = SamlConnectionInput {
        idp_metadata_xml: body.idp_metadata_xml,
        email_attribute: body.email_attribute,
        allow_idp_initiated: body.allow_idp_initiated,
    };
    let view = connections::create(
        &state,
        path.into_inner(),
        &body.kind,
        saml,
        op.actor,
        meta.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(view))
}

pub async fn approve_tenant(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
    body: web::Json<TenantBody>,
) -> Result<HttpResponse, ApiError> {
    let view =
        entra_tenants::approve_tenant(&state, path.into_inner(), &body.tenant_id, op.actor, meta.0)
            .await?;
    Ok(HttpResponse::Created().json(view))
}

pub async fn list_tenants(
    state: web::Data<AppState>,
    _op: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(entra_tenants::list_tenants(&state, path.into_inner()).await?))
}

pub async fn check_tenant(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (account, tenant_id) = path.into_inner();
    let status = entra_tenants::check_tenant(&state, account, &tenant_id, op.actor, meta.0).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "status": status })))
}

pub async fn validate(
    state: web::Data<AppState>,
    _op: Operator,
    body: web::Json<ValidateBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let answer = entra_tenants::validate_api_token(&state, body.token, body.account).await?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(answer))
}
