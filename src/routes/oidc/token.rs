//! `POST /oauth2/token` (SPEC §7.2): client authentication (`client_secret_basic`,
//! `client_secret_post`, `none`), then the grant from `services::provider::{token, refresh}`.
//! Answers carry `Cache-Control: no-store`; errors are RFC 6749 §5.2 JSON.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use data_encoding::BASE64;
use secrecy::SecretString;

use crate::oidc_provider::token_error::OAuthError;
use crate::routes::extract::Meta;
use crate::services::provider::clients::{self, AuthenticatedClient};
use crate::services::provider::token::TokenError;
use crate::services::provider::{refresh, token};
use crate::AppState;

#[derive(serde::Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth2/token`.
pub async fn exchange(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
    meta: Meta,
) -> HttpResponse {
    let form = form.into_inner();
    let grant = form.grant_type.clone().unwrap_or_default();
    let result = async {
        let client = authenticate(
            &req,
            &state,
            form.client_id.as_deref(),
            form.client_secret.clone(),
        )
        .await?;
        match grant.as_str() {
            "authorization_code" => {
                let code = form
                    .code
                    .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
                token::exchange_code(
                    &state,
                    &client,
                    code,
                    form.redirect_uri,
                    form.code_verifier,
                    meta.0,
                )
                .await
            }
            "refresh_token" => {
                let refresh_token = form
                    .refresh_token
                    .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
                refresh::refresh(&state, &client, refresh_token, meta.0).await
            }
            "" => Err(OAuthError::invalid_request("grant_type is required").into()),
            _ => {
                Err(OAuthError::new("unsupported_grant_type", "grant_type is not supported").into())
            }
        }
    }
    .await;
    let label = match grant.as_str() {
        "authorization_code" | "refresh_token" => grant.as_str(),
        _ => "other",
    };
    match result {
        Ok(answer) => {
            state.metrics.oidc_token(label, "issued");
            no_store(HttpResponse::Ok()).json(answer)
        }
        Err(e) => {
            state.metrics.oidc_token(label, "refused");
            oauth_error(e)
        }
    }
}

/// Authenticates the client of a token, revocation or introspection request.
pub async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    form_id: Option<&str>,
    form_secret: Option<String>,
) -> Result<AuthenticatedClient, TokenError> {
    let basic = basic_credentials(req)?;
    let (id, secret) = match (basic, form_id) {
        (Some(_), Some(_)) if form_secret.is_some() => {
            return Err(OAuthError::invalid_request("use one client authentication method").into())
        }
        (Some((id, secret)), _) => (id, Some(secret)),
        (None, Some(id)) => (id.to_string(), form_secret),
        (None, None) => return Err(OAuthError::invalid_client().into()),
    };
    let secret = secret.map(SecretString::from);
    clients::authenticate_client(state, &id, secret.as_ref())
        .await
        .map_err(|e| match e {
            clients::ClientAuthError::Unavailable(e) => TokenError::Service(e),
            other => {
                log::info!(
                    "request_id={} client authentication failed: {other}",
                    crate::request_id::current()
                );
                OAuthError::invalid_client().into()
            }
        })
}

/// `Authorization: Basic` credentials, form-urldecoded (RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || TokenError::from(OAuthError::invalid_client());
    let encoded = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(bad)?;
    let decoded = BASE64
        .decode(encoded.trim().as_bytes())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

/// An RFC 6749 §5.2 JSON error.
pub fn oauth_error(e: TokenError) -> HttpResponse {
    let e = match e {
        TokenError::Refused(e) => e,
        TokenError::Service(e) => {
            log::error!(
                "request_id={} token endpoint failed: {e:?}",
                crate::request_id::current()
            );
            OAuthError::new("server_error", "the server could not answer")
        }
    };
    let status = actix_web::http::StatusCode::from_u16(e.status())
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let mut res = no_store(HttpResponse::build(status));
    if e.error == "invalid_client" {
        res.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"oauth2\""));
    }
    res.json(e)
}

/// The form settings of the token, revocation and introspection endpoints: a body that is not
/// a form is an RFC 6749 §5.2 `invalid_request`, not the HTML form-error page.
pub fn form_config() -> web::FormConfig {
    web::FormConfig::default()
        .limit(16 * 1024)
        .error_handler(|err, _req| {
            let error = OAuthError::invalid_request("the request body is not a valid form");
            actix_web::error::InternalError::from_response(err, oauth_error(error.into())).into()
        })
}

pub fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder.insert_header((header::CACHE_CONTROL, "no-store"));
    builder.insert_header((header::PRAGMA, "no-cache"));
    builder
}
