//! The OpenID Connect client of one tenant, built with `openidconnect` from the tenant's own
//! discovery document (`{authority}/{tid}/v2.0`, whose issuer must equal that URL exactly), and
//! cached per tenant for an hour. It makes the authorization request (code flow, PKCE S256,
//! nonce, state, `login_hint`) and redeems the code; the ID token it returns is validated by
//! `id_token::validate_token`, not by this client.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope,
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::tenant::TenantId;
use crate::sso::SsoError;

type TenantClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A discovered client and when it was discovered.
type CachedClient = (Arc<TenantClient>, DateTime<Utc>);

/// How long a tenant's discovered metadata is reused.
const METADATA_TTL: Duration = Duration::hours(1);

/// An authorization request to send the browser to, and the secrets the callback needs.
#[derive(Debug)]
pub struct AuthorizationRequest {
    pub url: Url,
    pub state: SecretString,
    pub nonce: SecretString,
    pub pkce_verifier: SecretString,
}

/// The broker's OIDC clients, one per tenant.
pub struct OidcClients {
    http: reqwest::Client,
    authority: Url,
    client_id: String,
    client_secret: SecretString,
    redirect_uri: RedirectUrl,
    cache: Mutex<HashMap<TenantId, CachedClient>>,
}

impl OidcClients {
    pub fn new(
        authority: Url,
        client_id: String,
        client_secret: SecretString,
        redirect_uri: &str,
        timeout: std::time::Duration,
    ) -> Result<Self, SsoError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SsoError::IdpUnreachable(e.into()))?;
        let redirect_uri = RedirectUrl::new(redirect_uri.to_string())
            .map_err(|e| SsoError::IdpUnreachable(e.into()))?;
        Ok(Self {
            http,
            authority,
            client_id,
            client_secret,
            redirect_uri,
            cache: Mutex::new(HashMap::new()),
        })
    }

    async fn client(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<Arc<TenantClient>, SsoError> {
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((client, at)) = cache.get(tenant) {
                if now - *at < METADATA_TTL {
                    return Ok(client.clone());
                }
            }
        }
        let issuer = IssuerUrl::new(tenant.issuer(&self.authority))
            .map_err(|e| SsoError::IdpUnreachable(e.into()))?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| SsoError::IdpUnreachable(anyhow::anyhow!("discovery failed: {e}")))?;
        let client = Arc::new(
            CoreClient::from_provider_metadata(
                metadata,
                ClientId::new(self.client_id.clone()),
                Some(ClientSecret::new(
                    self.client_secret.expose_secret().to_string(),
                )),
            )
            .set_redirect_uri(self.redirect_uri.clone()),
        );
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.clone(), (client.clone(), now));
        Ok(client)
    }

    /// The authorization request for `tenant`, hinting `login_hint` (the entered email).
    pub async fn authorization_request(
        &self,
        tenant: &TenantId,
        login_hint: &str,
        auth_context: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AuthorizationRequest, SsoError> {
        let client = self.client(tenant, now).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .add_extra_param("login_hint", login_hint);
        if let Some(context) = auth_context {
            // A Conditional Access authentication context (SPEC §3.6): asked for as an essential
            // `acrs` value of the ID token; the callback requires it there.
            let claims = serde_json::json!({
                "id_token": { "acrs": { "essential": true, "value": context } }
            });
            request = request.add_extra_param("claims", claims.to_string());
        }
        let (url, state, nonce) = request.url();
        Ok(AuthorizationRequest {
            url,
            state: SecretString::from(state.secret().clone()),
            nonce: SecretString::from(nonce.secret().clone()),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        })
    }

    /// The admin's sign-in through the `organizations` authority (SPEC §3.3 step 1), to learn
    /// the admin's tenant. Built by hand: that metadata's issuer is the template
    /// `{authority}/{tenantid}/v2.0`, which discovery rightly refuses; the returned ID token is
    /// checked against the concrete issuer of its `tid` instead (SPEC §4).
    pub fn organizations_request(&self) -> AuthorizationRequest {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random();
        let nonce = Nonce::new_random();
        let mut url = self.organizations_endpoint("authorize");
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", self.redirect_uri.as_str())
            .append_pair("response_mode", "query")
            .append_pair("scope", "openid profile email")
            .append_pair("state", state.secret())
            .append_pair("nonce", nonce.secret())
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256")
            .append_pair("prompt", "select_account");
        AuthorizationRequest {
            url,
            state: SecretString::from(state.secret().clone()),
            nonce: SecretString::from(nonce.secret().clone()),
            pkce_verifier: SecretString::from(verifier.secret().clone()),
        }
    }

    fn organizations_endpoint(&self, name: &str) -> Url {
        let mut url = self.authority.clone();
        url.set_path(&format!(
            "{}/organizations/oauth2/v2.0/{name}",
            self.authority.path().trim_end_matches('/')
        ));
        url
    }

    /// Redeems a code of the `organizations` sign-in; returns the raw ID token.
    pub async fn redeem_organizations_code(
        &self,
        code: &str,
        pkce_verifier: &SecretString,
    ) -> Result<String, SsoError> {
        let response = self
            .http
            .post(self.organizations_endpoint("token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
                ("code_verifier", pkce_verifier.expose_secret()),
            ])
            .send()
            .await
            .map_err(|e| SsoError::IdpUnreachable(e.into()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(SsoError::IdpUnreachable(anyhow::anyhow!(
                "token endpoint answered {status}"
            )));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| SsoError::MalformedToken)?;
        if !status.is_success() {
            let error = body
                .get("error")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("token_refused");
            return Err(SsoError::CodeRejected(error.chars().take(64).collect()));
        }
        body.get("id_token")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or(SsoError::MissingClaim("id_token"))
    }

    /// `{authority}/{tid}/v2.0/adminconsent` for the broker's app (SPEC §3.3 step 2).
    pub fn admin_consent_url(&self, tenant: &TenantId, redirect_uri: &str, state: &str) -> Url {
        let mut url = self.authority.clone();
        url.set_path(&format!(
            "{}/{}/v2.0/adminconsent",
            self.authority.path().trim_end_matches('/'),
            tenant
        ));
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("scope", super::consent_proof::GRAPH_SCOPE)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state);
        url
    }

    /// Redeems `code` at the tenant's token endpoint; returns the raw ID token.
    pub async fn redeem_code(
        &self,
        tenant: &TenantId,
        code: &str,
        pkce_verifier: &SecretString,
        now: DateTime<Utc>,
    ) -> Result<String, SsoError> {
        let client = self.client(tenant, now).await?;
        let request = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| SsoError::IdpUnreachable(anyhow::anyhow!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(
                pkce_verifier.expose_secret().to_string(),
            ));
        let response = request
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(refusal) => {
                    SsoError::CodeRejected(refusal.error().to_string())
                }
                // An unreadable answer (an HTML error page from a proxy or an outage) is an outage.
                RequestTokenError::Parse(_, _) => {
                    SsoError::IdpUnreachable(anyhow::anyhow!("unreadable token response"))
                }
                other => SsoError::IdpUnreachable(anyhow::anyhow!("token request failed: {other}")),
            })?;
        let _ = response.access_token();
        openidconnect::TokenResponse::id_token(&response)
            .map(|t| t.to_string())
            .ok_or(SsoError::MissingClaim("id_token"))
    }
}
