//! Operator API for the OpenID Provider's clients (SPEC §7.1). A secret appears in the answer
//! to `POST /oidc/clients` and `POST /oidc/clients/{id}/secret` only (with `no-store`, the API's
//! default), never in a `GET`.

use actix_web::{web, HttpResponse};

use crate::routes::errors::ApiError;
use crate::routes::extract::{Meta, Operator};
use crate::services::provider::clients::{self, ClientInput};
use crate::AppState;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    name: String,
    #[serde(rename = "type")]
    client_type: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    backchannel_logout_uri: Option<String>,
    #[serde(default)]
    accounts: Vec<String>,
}

impl From<ClientBody> for ClientInput {
    fn from(body: ClientBody) -> Self {
        Self {
            name: body.name,
            client_type: body.client_type,
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            backchannel_logout_uri: body.backchannel_logout_uri,
            accounts: body.accounts,
        }
    }
}

/// `POST /api/v1/oidc/clients` → `201` the client, with `client_secret` when confidential.
pub async fn create(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    body: web::Json<ClientBody>,
) -> Result<HttpResponse, ApiError> {
    let created = clients::create(&state, body.into_inner().into(), op.actor, meta.0).await?;
    Ok(HttpResponse::Created().json(created.reveal()?))
}

/// `GET /api/v1/oidc/clients`: every client, oldest first.
pub async fn list(state: web::Data<AppState>, _op: Operator) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(clients::list(&state).await?))
}

/// `GET /api/v1/oidc/clients/{client_id}`.
pub async fn get(
    state: web::Data<AppState>,
    _op: Operator,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(clients::get(&state, path.into_inner()).await?))
}

/// `PUT /api/v1/oidc/clients/{client_id}`: replaces the registration (the type stays).
pub async fn update(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
    body: web::Json<ClientBody>,
) -> Result<HttpResponse, ApiError> {
    let view = clients::update(
        &state,
        path.into_inner(),
        body.into_inner().into(),
        op.actor,
        meta.0,
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `DELETE /api/v1/oidc/clients/{client_id}` → `204`.
pub async fn delete(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    clients::delete(&state, path.into_inner(), op.actor, meta.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/oidc/clients/{client_id}/secret` → `200` the client with its new
/// `client_secret`; the old secret stops working.
pub async fn rotate_secret(
    state: web::Data<AppState>,
    op: Operator,
    meta: Meta,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let rotated = clients::rotate_secret(&state, path.into_inner(), op.actor, meta.0).await?;
    Ok(HttpResponse::Ok().json(rotated.reveal()?))
}
