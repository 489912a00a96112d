//! Authorization codes (SPEC §7.2): issued at the end of an authorization, 60 s, single use,
//! kept only as their SHA-256 and bound to the client, `redirect_uri`, PKCE challenge, nonce,
//! scope and the sign-in they were issued for.

use chrono::{Duration, NaiveDateTime};

use crate::auth::session::SignedIn;
use crate::crypto::tokens::{random_token, sha256_hex};
use crate::db::oidc_authorization_code::OidcAuthorizationCode;
use crate::db::DbConnection;
use crate::oidc_provider::authorize_request::AuthorizationRequest;
use crate::oidc_provider::claims::SignInFacts;
use crate::services::ServiceError;

/// How long a code may be redeemed.
pub const CODE_LIFETIME: Duration = Duration::seconds(60);
const CODE_BYTES: usize = 32;

/// How `signed_in` was signed in, as codes and refresh families keep it.
pub fn facts_of(signed_in: &SignedIn) -> SignInFacts {
    SignInFacts {
        auth_method: signed_in.auth_method,
        idp: signed_in.idp,
        mfa: signed_in.mfa,
        connection_id: signed_in.connection_id.clone(),
        tenant_id: signed_in.tenant_id.clone(),
    }
}

/// What a code is issued for, besides the request.
pub struct CodeGrant<'a> {
    pub request: &'a AuthorizationRequest,
    pub signed_in: &'a SignedIn,
    pub sid: &'a str,
    /// The account the tokens are for (the `account` parameter or the active account).
    pub account_id: &'a str,
}

/// Stores a new code for `grant` and returns it (the only time it exists in clear).
pub fn issue(
    conn: &mut DbConnection,
    grant: &CodeGrant<'_>,
    now: NaiveDateTime,
) -> Result<String, ServiceError> {
    let code = random_token(CODE_BYTES);
    let sign_in = serde_json::to_string(&facts_of(grant.signed_in))
        .map_err(|e| ServiceError::Internal(e.into()))?;
    let auth_time = chrono::DateTime::from_timestamp(grant.signed_in.authenticated_at, 0)
        .map(|t| t.naive_utc())
        .unwrap_or(now);
    OidcAuthorizationCode {
        code_hash: sha256_hex(&code),
        client_id: grant.request.client_id.clone(),
        redirect_uri: grant.request.redirect_uri.clone(),
        code_challenge: grant.request.code_challenge.clone(),
        nonce: grant.request.nonce.clone(),
        scope: grant.request.scope.clone(),
        user_id: grant.signed_in.user_id.to_string(),
        account_id: grant.account_id.to_string(),
        sid: grant.sid.to_string(),
        auth_time,
        sign_in,
        created_at: now,
        expires_at: now + CODE_LIFETIME,
        used_at: None,
    }
    .insert(conn)?;
    Ok(code)
}
