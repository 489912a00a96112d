//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662), SPEC §7.2: the
//! client authenticates exactly as at the token endpoint; the use cases are
//! `services::provider::{revocation, introspection}`. Errors are RFC 6749 §5.2 JSON.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::oidc_provider::token_error::OAuthError;
use crate::routes::extract::Meta;
use crate::routes::oidc::token::{authenticate, no_store, oauth_error};
use crate::services::provider::clients::AuthenticatedClient;
use crate::services::provider::token::TokenError;
use crate::services::provider::{introspection, revocation};
use crate::AppState;

#[derive(serde::Deserialize)]
pub struct PresentedTokenForm {
    token: Option<String>,
    /// RFC 7009 §2.1, RFC 7662 §2.1: a hint only; every kind of token is looked for.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// The authenticated client and the token it presents.
async fn client_and_token(
    req: &HttpRequest,
    state: &AppState,
    form: PresentedTokenForm,
) -> Result<(AuthenticatedClient, String), TokenError> {
    let client = authenticate(req, state, form.client_id.as_deref(), form.client_secret).await?;
    let token = form
        .token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((client, token))
}

/// `POST /oauth2/revoke`: `200` whether or not there was anything to revoke.
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PresentedTokenForm>,
    meta: Meta,
) -> HttpResponse {
    let result = async {
        let (client, token) = client_and_token(&req, &state, form.into_inner()).await?;
        revocation::revoke(&state, &client, &token, meta.0).await?;
        Ok::<_, TokenError>(())
    }
    .await;
    match result {
        Ok(()) => no_store(HttpResponse::Ok()).finish(),
        Err(e) => oauth_error(e),
    }
}

/// `POST /oauth2/introspect`.
pub async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<PresentedTokenForm>,
) -> HttpResponse {
    let result = async {
        let (client, token) = client_and_token(&req, &state, form.into_inner()).await?;
        Ok::<_, TokenError>(introspection::introspect(&state, &client, &token).await?)
    }
    .await;
    match result {
        Ok(answer) => no_store(HttpResponse::Ok()).json(answer),
        Err(e) => oauth_error(e),
    }
}
