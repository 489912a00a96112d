//! The demo portal's Relying Party, built with `openidconnect` the way a portal application would
//! use any certified library against the broker: discovery (with RP-Initiated Logout's
//! `end_session_endpoint`), the authorization code flow with PKCE S256, `state` and `nonce`, the
//! code exchange, and the ID token verified against the JWKS (signature, `iss`, `aud`, `exp`,
//! `nonce`, `at_hash`). Nothing here knows actix; the portal's pages call it.

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdToken, IdTokenFields, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use url::Url;

/// The broker's own claims in its ID tokens (SPEC §7.3), beside the standard ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BrokerClaims {
    pub account: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    pub idp: Option<String>,
    pub mfa: Option<String>,
    pub sid: Option<String>,
}

impl AdditionalClaims for BrokerClaims {}

pub type PortalIdToken = IdToken<
    BrokerClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

type PortalTokenResponse = StandardTokenResponse<
    IdTokenFields<
        BrokerClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type PortalClient = Client<
    BrokerClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    PortalTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What a sign-in started: the browser goes to `url`; the rest stays with the portal, bound to
/// that browser, until the callback.
#[derive(Debug)]
pub struct PendingSignIn {
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A verified sign-in: the ID token (kept as the logout's `id_token_hint`) and its claims as
/// `(claim, value)` rows for the page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub id_token: String,
    pub rows: Vec<(String, String)>,
}

/// Why a sign-in did not complete, in words for the page.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    #[error("the broker's discovery document could not be read: {0}")]
    Discovery(String),
    #[error("the code exchange failed: {0}")]
    Token(String),
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
}

/// The portal's client of the broker: discovered once, then reused.
pub struct RelyingParty {
    http: reqwest::Client,
    client: PortalClient,
    issuer: String,
    end_session: EndSessionUrl,
}

impl RelyingParty {
    /// Discovers the broker at `issuer` and registers the portal as `client_id`.
    pub async fn discover(
        issuer: &str,
        client_id: &str,
        client_secret: &str,
        redirect_uri: &str,
    ) -> Result<Self, RpError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| RpError::Discovery(e.to_string()))?;
        let issuer_url =
            IssuerUrl::new(issuer.to_string()).map_err(|e| RpError::Discovery(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer_url, &http)
            .await
            .map_err(|e| RpError::Discovery(e.to_string()))?;
        // RP-Initiated Logout: discovery's endpoint, else the one SPEC §7.2 names.
        let end_session = match metadata.additional_metadata().end_session_endpoint.clone() {
            Some(url) => url,
            None => EndSessionUrl::new(format!("{issuer}/oauth2/logout"))
                .map_err(|e| RpError::Discovery(e.to_string()))?,
        };
        let redirect = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| RpError::Discovery(e.to_string()))?;
        let client = PortalClient::from_provider_metadata(
            metadata,
            ClientId::new(client_id.to_string()),
            Some(ClientSecret::new(client_secret.to_string())),
        )
        .set_redirect_uri(redirect);
        Ok(Self {
            http,
            client,
            issuer: issuer.to_string(),
            end_session,
        })
    }

    /// A new authorization request (scopes `openid profile email`).
    pub fn start(&self) -> PendingSignIn {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
        PendingSignIn {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        }
    }

    /// Whether an RFC 9207 `iss` in the callback names the broker (absent is accepted).
    pub fn issuer_matches(&self, iss: Option<&str>) -> bool {
        iss.is_none_or(|iss| iss == self.issuer)
    }

    /// Redeems `code` with the pending request's verifier and verifies the ID token.
    pub async fn finish(&self, code: &str, pending: &PendingSignIn) -> Result<SignedIn, RpError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| RpError::Token(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| RpError::Token(e.to_string()))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| RpError::Token("the answer has no id_token".into()))?;
        let verifier = self.client.id_token_verifier();
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| RpError::IdToken(e.to_string()))?;
        if let Some(expected) = claims.access_token_hash() {
            let signer = id_token
                .signing_alg()
                .and_then(|alg| id_token.signing_key(&verifier).map(|key| (alg, key)))
                .map_err(|e| RpError::IdToken(e.to_string()))?;
            let actual = AccessTokenHash::from_token(response.access_token(), signer.0, signer.1)
                .map_err(|e| RpError::IdToken(e.to_string()))?;
            if actual != *expected {
                return Err(RpError::IdToken(
                    "at_hash does not match the access token".into(),
                ));
            }
        }
        Ok(SignedIn {
            id_token: id_token.to_string(),
            rows: claim_rows(claims),
        })
    }

    /// The broker's end-session URL for `id_token`, back to `post_logout` afterwards.
    pub fn logout_url(&self, id_token: &str, post_logout: &str) -> Option<Url> {
        let token: PortalIdToken = id_token.parse().ok()?;
        let back = PostLogoutRedirectUrl::new(post_logout.to_string()).ok()?;
        Some(
            LogoutRequest::from(self.end_session.clone())
                .set_id_token_hint(&token)
                .set_post_logout_redirect_uri(back)
                .set_state(CsrfToken::new_random())
                .http_get_url(),
        )
    }
}

/// The claims a portal cares about, as readable rows.
fn claim_rows(
    claims: &openidconnect::IdTokenClaims<BrokerClaims, CoreGenderClaim>,
) -> Vec<(String, String)> {
    let extra = claims.additional_claims();
    let or_none = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(none)".into());
    let amr = claims
        .auth_method_refs()
        .map(|list| {
            list.iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let mut rows = vec![
        ("sub".to_string(), claims.subject().to_string()),
        ("account".into(), or_none(extra.account.as_ref())),
        ("roles".into(), extra.roles.join(", ")),
        ("idp".into(), or_none(extra.idp.as_ref())),
        ("mfa".into(), or_none(extra.mfa.as_ref())),
        ("amr".into(), amr),
        ("sid".into(), or_none(extra.sid.as_ref())),
    ];
    if let Some(email) = claims.email() {
        rows.push(("email".into(), email.to_string()));
    }
    if let Some(name) = claims.preferred_username() {
        rows.push(("preferred_username".into(), name.to_string()));
    }
    rows.push(("iss".into(), claims.issuer().to_string()));
    rows.push((
        "auth_time".into(),
        claims
            .auth_time()
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
    ));
    rows.push(("exp".into(), claims.expiration().to_rfc3339()));
    rows
}
