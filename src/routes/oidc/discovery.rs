//! `GET /.well-known/openid-configuration` and `GET /oauth2/jwks`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::oidc_provider::discovery::ProviderMetadata;
use crate::routes::errors::ApiError;
use crate::services::provider::signing_keys;
use crate::AppState;

/// The discovery document changes only with the configuration.
const DISCOVERY_CACHE: &str = "public, max-age=3600";
/// Short, because a rotated key signs at once: a relying party that meets an unknown `kid`
/// fetches the set again and must not get a stale copy from a cache for long.
const JWKS_CACHE: &str = "public, max-age=60";

/// `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0).
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, DISCOVERY_CACHE))
        .json(ProviderMetadata::new(&state.settings.oidc_issuer()))
}

/// `GET /oauth2/jwks`: the signing key and every retired key whose tokens may still be valid.
pub async fn jwks(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let set = signing_keys::jwks(&state).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, JWKS_CACHE))
        .json(set))
}
