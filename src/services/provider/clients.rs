//! Clients of the OpenID Provider (SPEC §7.1): registered by the operator (API and CLI), with
//! exact redirect URIs, an optional account allow-list and, for confidential clients, a secret
//! that is shown once and kept only as its SHA-256.
//!
//! # Security
//! A secret is 256 random bits, so a plain SHA-256 is enough to keep it from anyone who reads
//! the database (a slow password hash protects low-entropy secrets; there is none here). It is
//! compared in constant time, and it is never logged or audited.

use std::sync::Arc;

use chrono::NaiveDateTime;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::crypto::tokens::{random_token, sha256_hex};
use crate::db::account::Account;
use crate::db::oidc_client::{OidcClient, OidcClientMetadata};
use crate::db::DbConnection;
use crate::domain::oidc_client::{
    ClientMetadata, ClientMetadataInput, ClientType, InvalidClientMetadata,
};
use crate::domain::{AccountId, AccountName, ClientId};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

/// Bytes of randomness in a client secret.
const SECRET_BYTES: usize = 32;

/// A registration as the operator sends it (`POST`, and `PUT` which replaces it).
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub name: String,
    /// `confidential` or `public`. On `PUT`, `None` keeps the type; another type is refused.
    pub client_type: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Account names; empty: every account.
    pub accounts: Vec<String>,
}

/// A client as the operator sees it: never its secret or the secret's hash.
#[derive(Debug, Clone, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub client_type: &'static str,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Account names.
    pub accounts: Vec<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A client with the secret just made for it (confidential clients), to be shown once.
#[derive(Debug)]
pub struct ClientWithSecret {
    pub client: ClientView,
    pub secret: Option<SecretString>,
}

impl ClientWithSecret {
    /// The client as JSON, with `client_secret` when one was made: the one time it is shown.
    pub fn reveal(&self) -> Result<serde_json::Value, ServiceError> {
        let mut json =
            serde_json::to_value(&self.client).map_err(|e| ServiceError::Internal(e.into()))?;
        if let (Some(secret), Some(object)) = (&self.secret, json.as_object_mut()) {
            object.insert(
                "client_secret".into(),
                serde_json::Value::String(secret.expose_secret().to_string()),
            );
        }
        Ok(json)
    }
}

/// A client that authenticated at the token endpoint (or presented its id, when public).
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client_id: ClientId,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Empty: every account.
    pub accounts: Vec<AccountId>,
}

/// Why a client did not authenticate. Every variant but `Unavailable` is RFC 6749 §5.2
/// `invalid_client` to the caller; the variant is for the log and the audit.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("no client has this client_id")]
    UnknownClient,
    #[error("a confidential client must present its secret")]
    SecretRequired,
    #[error("the client secret is not correct")]
    WrongSecret,
    #[error("a public client has no secret to present")]
    UnexpectedSecret,
    #[error(transparent)]
    Unavailable(#[from] ServiceError),
}

impl ClientAuthError {
    /// The RFC 6749 §5.2 error code.
    pub fn oauth_error(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "server_error",
            _ => "invalid_client",
        }
    }
}

fn invalid(e: InvalidClientMetadata) -> ServiceError {
    ServiceError::Unprocessable {
        code: "invalid_client_metadata",
        message: e.0,
    }
}

fn client_not_found() -> ServiceError {
    ServiceError::NotFound {
        code: "client_not_found",
        message: "No OpenID Connect client has this client_id.",
    }
}

fn new_secret() -> (SecretString, String) {
    let secret = random_token(SECRET_BYTES);
    let hash = sha256_hex(&secret);
    (SecretString::from(secret), hash)
}

fn to_json(list: &[String]) -> Result<String, ServiceError> {
    serde_json::to_string(list).map_err(|e| ServiceError::Internal(e.into()))
}

fn from_json(text: &str) -> Result<Vec<String>, ServiceError> {
    serde_json::from_str(text).map_err(|e| ServiceError::Internal(e.into()))
}

/// The validated registration and the ids of its accounts (unknown names are refused).
fn validate(
    conn: &mut DbConnection,
    input: ClientInput,
) -> Result<(ClientMetadata, Vec<String>), ServiceError> {
    let metadata = ClientMetadata::validate(ClientMetadataInput {
        name: input.name,
        redirect_uris: input.redirect_uris,
        post_logout_redirect_uris: input.post_logout_redirect_uris,
        backchannel_logout_uri: input.backchannel_logout_uri,
    })
    .map_err(invalid)?;
    let mut ids: Vec<String> = Vec::with_capacity(input.accounts.len());
    for name in &input.accounts {
        let account = AccountName::parse(name)
            .ok()
            .map(|n| Account::find_by_name(conn, n.as_str()))
            .transpose()?
            .flatten()
            .ok_or_else(|| {
                invalid(InvalidClientMetadata(format!(
                    "accounts: no account is named '{name}'"
                )))
            })?;
        if !ids.contains(&account.id) {
            ids.push(account.id);
        }
    }
    Ok((metadata, ids))
}

fn view(conn: &mut DbConnection, row: &OidcClient) -> Result<ClientView, ServiceError> {
    let mut accounts = Vec::new();
    for id in from_json(&row.accounts)? {
        if let Some(account) = Account::find(conn, &id)? {
            accounts.push(account.name);
        }
    }
    Ok(ClientView {
        client_id: row.id.clone(),
        name: row.name.clone(),
        client_type: stored_type(row)?.as_str(),
        redirect_uris: from_json(&row.redirect_uris)?,
        post_logout_redirect_uris: from_json(&row.post_logout_redirect_uris)?,
        backchannel_logout_uri: row.backchannel_logout_uri.clone(),
        accounts,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn stored_type(row: &OidcClient) -> Result<ClientType, ServiceError> {
    ClientType::parse(&row.client_type).map_err(|_| {
        ServiceError::Internal(anyhow::anyhow!(
            "client {} has the unknown type {:?}",
            row.id,
            row.client_type
        ))
    })
}

fn record(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: NaiveDateTime,
    actor: &str,
    action: &'static str,
    client: &OidcClient,
) -> Result<(), ServiceError> {
    let reason = format!("client_id={} name={}", client.id, client.name);
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor: actor.to_string(),
            account_id: None,
            action,
            outcome: Outcome::Success,
            reason: Some(&reason),
        },
    )?;
    Ok(())
}

/// Registers a client (`POST /api/v1/oidc/clients`, `sso-broker oidc client create`).
pub async fn create(
    state: &AppState,
    input: ClientInput,
    actor: String,
    meta: RequestMeta,
) -> Result<ClientWithSecret, ServiceError> {
    let client_type =
        ClientType::parse(input.client_type.as_deref().unwrap_or_default()).map_err(invalid)?;
    let (secret, secret_hash) = match client_type {
        ClientType::Confidential => {
            let (secret, hash) = new_secret();
            (Some(secret), Some(hash))
        }
        ClientType::Public => (None, None),
    };
    let now = state.clock.now_naive();
    let client = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let (metadata, accounts) = validate(conn, input)?;
                let row = OidcClient {
                    id: ClientId::generate().into_string(),
                    name: metadata.name,
                    client_type: client_type.as_str().to_string(),
                    redirect_uris: to_json(&metadata.redirect_uris)?,
                    post_logout_redirect_uris: to_json(&metadata.post_logout_redirect_uris)?,
                    backchannel_logout_uri: metadata.backchannel_logout_uri,
                    accounts: to_json(&accounts)?,
                    secret_hash,
                    created_at: now,
                    updated_at: now,
                };
                row.insert(conn)?;
                record(conn, &meta, now, &actor, "oidc_client.create", &row)?;
                view(conn, &row)
            })
        })
        .await?;
    Ok(ClientWithSecret { client, secret })
}

/// Every client, oldest first.
pub async fn list(state: &AppState) -> Result<Vec<ClientView>, ServiceError> {
    state
        .db
        .run(|conn| {
            OidcClient::list(conn)?
                .iter()
                .map(|row| view(conn, row))
                .collect()
        })
        .await
}

/// One client; `404 client_not_found` when there is none.
pub async fn get(state: &AppState, client_id: String) -> Result<ClientView, ServiceError> {
    state
        .db
        .run(move |conn| {
            let row = OidcClient::find(conn, &client_id)?.ok_or_else(client_not_found)?;
            view(conn, &row)
        })
        .await
}

/// Replaces a client's registration (`PUT`). Its type cannot change: a public client that
/// became confidential would have no secret, and the reverse would keep a useless one.
pub async fn update(
    state: &AppState,
    client_id: String,
    input: ClientInput,
    actor: String,
    meta: RequestMeta,
) -> Result<ClientView, ServiceError> {
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let row = OidcClient::find(conn, &client_id)?.ok_or_else(client_not_found)?;
                if let Some(requested) = &input.client_type {
                    let requested = ClientType::parse(requested).map_err(invalid)?;
                    if requested != stored_type(&row)? {
                        return Err(invalid(InvalidClientMetadata(
                            "type cannot change: register a new client instead".into(),
                        )));
                    }
                }
                let (metadata, accounts) = validate(conn, input)?;
                let change = OidcClientMetadata {
                    name: metadata.name,
                    redirect_uris: to_json(&metadata.redirect_uris)?,
                    post_logout_redirect_uris: to_json(&metadata.post_logout_redirect_uris)?,
                    backchannel_logout_uri: metadata.backchannel_logout_uri,
                    accounts: to_json(&accounts)?,
                    updated_at: now,
                };
                OidcClient::update_metadata(conn, &row.id, &change)?;
                let row = OidcClient::find(conn, &row.id)?.ok_or_else(client_not_found)?;
                record(conn, &meta, now, &actor, "oidc_client.update", &row)?;
                view(conn, &row)
            })
        })
        .await
}

/// Deletes a client: from then on it cannot authenticate or start an authorization, and its
/// refresh tokens (and the access tokens of their families) are revoked (SPEC §7.1).
pub async fn delete(
    state: &AppState,
    client_id: String,
    actor: String,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let row = OidcClient::find(conn, &client_id)?.ok_or_else(client_not_found)?;
                OidcClient::delete(conn, &row.id)?;
                crate::db::oidc_refresh_family::OidcRefreshFamily::revoke_for_client(
                    conn,
                    &row.id,
                    now,
                    "client_deleted",
                )?;
                record(conn, &meta, now, &actor, "oidc_client.delete", &row)
            })
        })
        .await
}

/// Gives a confidential client a new secret (shown once); the old one stops working at once.
/// `409 public_client` for a public client, which has none.
pub async fn rotate_secret(
    state: &AppState,
    client_id: String,
    actor: String,
    meta: RequestMeta,
) -> Result<ClientWithSecret, ServiceError> {
    let now = state.clock.now_naive();
    let (secret, hash) = new_secret();
    let client = state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let row = OidcClient::find(conn, &client_id)?.ok_or_else(client_not_found)?;
                if stored_type(&row)? == ClientType::Public {
                    return Err(ServiceError::Conflict {
                        code: "public_client",
                        message:
                            "This client is public: it has no secret and proves itself with PKCE.",
                    });
                }
                OidcClient::set_secret_hash(conn, &row.id, &hash, now)?;
                let row = OidcClient::find(conn, &row.id)?.ok_or_else(client_not_found)?;
                record(conn, &meta, now, &actor, "oidc_client.secret_rotate", &row)?;
                view(conn, &row)
            })
        })
        .await?;
    Ok(ClientWithSecret {
        client,
        secret: Some(secret),
    })
}

/// Authenticates a client at the token, revocation and introspection endpoints:
/// `client_secret_basic` / `client_secret_post` for confidential clients (`secret` given),
/// `none` for public ones (`secret` absent).
///
/// # Security
/// The presented secret's SHA-256 is compared with the stored one in constant time, so the
/// time taken tells nothing about how much of a guess was right. (Client ids are not secret.)
pub async fn authenticate_client(
    state: &AppState,
    client_id: &str,
    secret: Option<&SecretString>,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let presented = secret.map(|s| sha256_hex(s.expose_secret()));
    let Some(row) = registered(state, client_id).await? else {
        return Err(ClientAuthError::UnknownClient);
    };
    let client_type = stored_type(&row)?;
    match (client_type, presented, row.secret_hash.as_deref()) {
        (ClientType::Confidential, Some(presented), Some(stored)) => {
            if !bool::from(presented.as_bytes().ct_eq(stored.as_bytes())) {
                return Err(ClientAuthError::WrongSecret);
            }
        }
        (ClientType::Confidential, _, _) => return Err(ClientAuthError::SecretRequired),
        (ClientType::Public, Some(_), _) => return Err(ClientAuthError::UnexpectedSecret),
        (ClientType::Public, None, _) => {}
    }
    Ok(registration_of(&row, client_type)?)
}

/// The stored registration of `client_id`, from memory when it is there (dropped on every
/// instance whenever a registration is written: `Topics::OIDC_CLIENTS`).
async fn registered(
    state: &AppState,
    client_id: &str,
) -> Result<Option<Arc<OidcClient>>, ServiceError> {
    let cache = &state.caches.oidc_clients;
    if let Some(row) = cache.get(client_id) {
        return Ok(Some(row));
    }
    let ticket = cache.ticket();
    let id = client_id.to_string();
    let row = state
        .db
        .run(move |conn| Ok::<_, ServiceError>(OidcClient::find(conn, &id)?))
        .await?
        .map(Arc::new);
    if let Some(row) = &row {
        cache.insert(ticket, client_id.to_string(), row.clone());
    }
    Ok(row)
}

fn registration_of(
    row: &OidcClient,
    client_type: ClientType,
) -> Result<AuthenticatedClient, ServiceError> {
    Ok(AuthenticatedClient {
        client_id: ClientId::from_stored(row.id.clone()),
        name: row.name.clone(),
        client_type,
        redirect_uris: from_json(&row.redirect_uris)?,
        post_logout_redirect_uris: from_json(&row.post_logout_redirect_uris)?,
        backchannel_logout_uri: row.backchannel_logout_uri.clone(),
        accounts: from_json(&row.accounts)?
            .into_iter()
            .map(AccountId::from_stored)
            .collect(),
    })
}

/// The registration of `client_id` without authenticating it (the authorization endpoint,
/// where the client is named in the browser's request), if there is such a client.
pub fn find_registration(
    conn: &mut DbConnection,
    client_id: &str,
) -> Result<Option<AuthenticatedClient>, ServiceError> {
    let Some(row) = OidcClient::find(conn, client_id)? else {
        return Ok(None);
    };
    let client_type = stored_type(&row)?;
    registration_of(&row, client_type).map(Some)
}
