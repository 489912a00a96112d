//! Operator API for accounts (including the SSO offer), user creation, SSO settings and the
//! audit log (SPEC §6.3); the user lifecycle is `users`.

use actix_web::{web, HttpResponse};
use secrecy::SecretString;

use crate::routes::errors::ApiError;
use crate::routes::extract::{Meta, Operator};
use crate::services::admin::accounts::{self, AccountChange, NewAccount, NewUser};
use crate::services::admin::sso_settings;
use crate::AppState;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountBody {
    name: String,
    display_name: Option<String>,
    parent: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    display_name: Option<String>,
    sso_available: Option<bool>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    email: String,
    username: Option<String>,
    role: String,
    password: Option<SecretString>,
}

#[derive(serde::Deserialize)]
pub struct AuditQuery {
    limit: Option<i64>,
}

pub async fn create_account(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    body: web::Json<AccountBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = NewAccount {
        name: body.name,
        display_name: body.display_name,
        parent: body.parent,
        sso_available: None,
    };
    let created = accounts::create_account(&state, input, op.actor, meta.0).await?;
    Ok(HttpResponse::Created().json(created))
}

/// `GET /api/v1/accounts/{name}`: `{id, name, display_name, parent, sso_available}`.
pub async fn get_account(
    state: web::Data<AppState>,
    _op: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(accounts::get_account(&state, path.into_inner()).await?))
}

/// `PATCH /api/v1/accounts/{name}` `{display_name?, sso_available?}` (SPEC §3.5, §6.3).
pub async fn update_account(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
    body: web::Json<AccountPatch>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let change = AccountChange {
        display_name: body.display_name,
        sso_available: body.sso_available,
    };
    let view =
        accounts::update_account(&state, path.into_inner(), change, op.actor, meta.0).await?;
    Ok(HttpResponse::Ok().json(view))
}

pub async fn create_user(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
    body: web::Json<UserBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let input = NewUser {
        account: path.into_inner(),
        email: body.email,
        username: body.username,
        role: body.role,
        password: body.password,
    };
    let created = accounts::create_user(&state, input, op.actor, meta.0).await?;
    Ok(HttpResponse::Created().json(created))
}

pub async fn audit(
    state: web::Data<AppState>,
    _op: Operator,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let events = accounts::list_audit(&state, path.into_inner(), query.limit.unwrap_or(50)).await?;
    Ok(HttpResponse::Ok().json(events))
}

/// `PUT /api/v1/accounts/{name}/sso` (SPEC §6.3): replaces the account's SSO settings.
pub async fn put_sso(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
    body: web::Json<sso_settings::SsoChange>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts::account_id(&state, path.into_inner()).await?;
    let updated =
        sso_settings::update(&state, account, body.into_inner(), op.actor, meta.0).await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// `GET /api/v1/accounts/{name}/sso`: the current settings.
pub async fn get_sso(
    state: web::Data<AppState>,
    _op: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts::account_id(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(sso_settings::get(&state, account).await?))
}
