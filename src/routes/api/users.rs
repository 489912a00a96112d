//! Operator API for the user lifecycle (SPEC §6.3): list members, change a member's status or
//! role, remove and add memberships, end a user's sessions. The rules are `services::users`.

use actix_web::{web, HttpResponse};

use crate::routes::errors::ApiError;
use crate::routes::extract::{Meta, Operator};
use crate::services::admin::help_desk;
use crate::services::admin::users::{self, Actor, UserChange};
use crate::AppState;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    status: Option<String>,
    role: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    username: String,
    role: String,
}

/// `GET /api/v1/accounts/{name}/users`
pub async fn list(
    state: web::Data<AppState>,
    _op: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(users::list(&state, path.into_inner()).await?))
}

/// `PATCH /api/v1/accounts/{name}/users/{username}`
pub async fn update(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<(String, String)>,
    body: web::Json<PatchBody>,
) -> Result<HttpResponse, ApiError> {
    let (account, username) = path.into_inner();
    let body = body.into_inner();
    let change = UserChange {
        status: body.status,
        role: body.role,
    };
    let actor = Actor::Operator(op.actor);
    let updated = users::update(&state, account, username, change, actor, meta.0).await?;
    Ok(HttpResponse::Ok().json(updated))
}

/// `DELETE /api/v1/accounts/{name}/users/{username}`
pub async fn remove(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (account, username) = path.into_inner();
    users::remove_membership(&state, account, username, Actor::Operator(op.actor), meta.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/accounts/{name}/members`
pub async fn add_member(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
    body: web::Json<MemberBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let actor = Actor::Operator(op.actor);
    let added = users::add_member(
        &state,
        path.into_inner(),
        body.username,
        body.role,
        actor,
        meta.0,
    )
    .await?;
    Ok(HttpResponse::Created().json(added))
}

/// `DELETE /api/v1/accounts/{name}/users/{username}/sessions`
pub async fn revoke_sessions(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (account, username) = path.into_inner();
    let actor = Actor::Operator(op.actor);
    let revoked = help_desk::revoke_sessions(&state, account, username, actor, meta.0).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "revoked": revoked })))
}
