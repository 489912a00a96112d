//! Mints the tokens of one issuance (SPEC §7.2, §7.3): an RFC 9068 access token and an ID token
//! bound to it by `at_hash`, both signed with the current signing key. The claims are
//! `oidc_provider::claims`; this only adds the clock, the configured lifetimes and the key.

use crate::crypto::tokens::random_token;
use crate::oidc_provider::claims::{
    self, Issuance, SignInFacts, TokenSubject, ACCESS_TOKEN_TYP, ID_TOKEN_TYP,
};
use crate::services::provider::signing_keys;
use crate::services::ServiceError;
use crate::AppState;

/// Separates the family id from the random part of an access token's `jti`.
const JTI_SEPARATOR: char = '.';

/// The tokens of one issuance.
#[derive(Debug, Clone)]
pub struct MintedTokens {
    pub access_token: String,
    pub id_token: String,
    /// Lifetime of the access token, in seconds.
    pub expires_in: i64,
}

/// What an issuance is for.
#[derive(Debug, Clone, Copy)]
pub struct MintRequest<'a> {
    pub client_id: &'a str,
    pub subject: &'a TokenSubject,
    pub facts: &'a SignInFacts,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    /// The refresh family the tokens belong to (named in the access token's `jti`).
    pub family_id: &'a str,
}

/// A fresh `jti` for an access token of `family_id`.
pub fn new_jti(family_id: &str) -> String {
    format!("{family_id}{JTI_SEPARATOR}{}", random_token(16))
}

/// The refresh family an access token's `jti` names.
pub fn family_of_jti(jti: &str) -> Option<&str> {
    jti.split_once(JTI_SEPARATOR).map(|(family, _)| family)
}

/// Signs an access token and an ID token for `request` at the broker's clock.
pub async fn mint(
    state: &AppState,
    request: MintRequest<'_>,
) -> Result<MintedTokens, ServiceError> {
    let issuer = state.settings.oidc_issuer();
    let now = state.clock.now().timestamp();
    let access_lifetime = state.settings.oidc_access_token_lifetime.num_seconds();
    let access = claims::access_token_claims(
        Issuance {
            issuer: &issuer,
            client_id: request.client_id,
            now,
            lifetime: access_lifetime,
        },
        request.subject,
        request.scope,
        &new_jti(request.family_id),
    );
    let access_token = signing_keys::sign(state, ACCESS_TOKEN_TYP, &access).await?;
    let id = claims::id_token_claims(
        Issuance {
            issuer: &issuer,
            client_id: request.client_id,
            now,
            lifetime: state.settings.oidc_id_token_lifetime.num_seconds(),
        },
        request.subject,
        request.facts,
        request.nonce,
        &access_token,
    );
    let id_token = signing_keys::sign(state, ID_TOKEN_TYP, &id).await?;
    Ok(MintedTokens {
        access_token,
        id_token,
        expires_in: access_lifetime,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_names_its_family() {
        let jti = new_jti("3f0c6a4e-family");
        assert_eq!(family_of_jti(&jti), Some("3f0c6a4e-family"));
        assert_ne!(jti, new_jti("3f0c6a4e-family"));
        assert_eq!(family_of_jti("no-separator"), None);
    }
}
