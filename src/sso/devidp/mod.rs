//! The built-in development identity provider (SPEC §6.6), Entra half: per-tenant issuers
//! sharing one RS256 key, client-credentials tokens only for tenants that consented, and Graph's
//! `/v1.0/organization`. Runs only for `demo` and tests on loopback; it signs real tokens so the
//! broker validates them exactly as it validates Microsoft's.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use data_encoding::BASE64URL_NOPAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};

/// The multi-tenant authority segment (`{authority}/organizations/...`).
pub const ORGANIZATIONS: &str = "organizations";

/// A user of a development tenant.
#[derive(Debug, Clone)]
pub struct DevUser {
    pub oid: String,
    pub email: String,
    pub name: String,
    /// Whether Entra would mark the email domain verified (`xms_edov`).
    pub email_verified: bool,
    /// Directory role template ids (`wids`), e.g. Global Administrator for a tenant admin.
    pub wids: Vec<String>,
}

/// A development tenant.
#[derive(Debug, Clone)]
pub struct DevTenant {
    pub display_name: String,
    pub verified_domains: Vec<String>,
    /// Whether its admin consented to the broker's app (else no client-credentials token).
    pub consented: bool,
    pub users: Vec<DevUser>,
    /// Test hook: Graph answers with this id instead of the tenant's own.
    pub graph_id_override: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DevIdpError {
    #[error("DI0001 cannot create the signing key: {0}")]
    Key(String),
}

/// One development IdP: its key, its registered app and its tenants.
pub struct DevIdp {
    /// Issuer base, e.g. `http://127.0.0.1:9000`.
    authority: String,
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
    pub client_id: String,
    client_secret: Mutex<String>,
    tenants: Mutex<HashMap<String, DevTenant>>,
    codes: Mutex<HashMap<String, IssuedCode>>,
    /// Whether sign-ins satisfy a requested Conditional Access authentication context (the
    /// `acrs` claim); tests turn it off to play a tenant whose policy was not met.
    pub satisfies_auth_context: std::sync::atomic::AtomicBool,
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
struct IssuedCode {
    tenant_id: String,
    oid: String,
    nonce: Option<String>,
    redirect_uri: String,
    code_challenge: String,
    /// The authentication context the `claims` parameter asked for in `acrs`.
    acrs: Option<String>,
    used: bool,
}

impl std::fmt::Debug for DevIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevIdp")
            .field("authority", &self.authority)
            .finish_non_exhaustive()
    }
}

/// An OAuth error the token endpoint answers with (status, body).
pub type OAuthError = (u16, Value);

impl DevIdp {
    pub fn new(authority: &str, client_id: &str, client_secret: &str) -> Result<Self, DevIdpError> {
        let key = |e: openssl::error::ErrorStack| DevIdpError::Key(e.to_string());
        let rsa = openssl::rsa::Rsa::generate(2048).map_err(key)?;
        let private = rsa.private_key_to_pem().map_err(key)?;
        let public = rsa.public_key_to_pem().map_err(key)?;
        let kid = format!("dev-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": BASE64URL_NOPAD.encode(&rsa.n().to_vec()),
            "e": BASE64URL_NOPAD.encode(&rsa.e().to_vec()),
        });
        Ok(Self {
            authority: authority.trim_end_matches('/').to_string(),
            encoding: EncodingKey::from_rsa_pem(&private)
                .map_err(|e| DevIdpError::Key(e.to_string()))?,
            decoding: DecodingKey::from_rsa_pem(&public)
                .map_err(|e| DevIdpError::Key(e.to_string()))?,
            kid,
            jwk,
            client_id: client_id.to_string(),
            client_secret: Mutex::new(client_secret.to_string()),
            tenants: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            satisfies_auth_context: std::sync::atomic::AtomicBool::new(true),
        })
    }

    fn secret_matches(&self, presented: &str) -> bool {
        *self.client_secret.lock().unwrap_or_else(|p| p.into_inner()) == presented
    }

    /// Test hook: the app registration's secret changes (as when the operator's secret expires).
    pub fn rotate_client_secret(&self, new_secret: &str) {
        *self.client_secret.lock().unwrap_or_else(|p| p.into_inner()) = new_secret.to_string();
    }

    fn tenants(&self) -> std::sync::MutexGuard<'_, HashMap<String, DevTenant>> {
        self.tenants
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn add_tenant(&self, tenant_id: &str, tenant: DevTenant) {
        self.tenants().insert(tenant_id.to_string(), tenant);
    }

    /// Changes a tenant in place (consent given or removed, Graph override, …).
    pub fn update_tenant(&self, tenant_id: &str, change: impl FnOnce(&mut DevTenant)) {
        if let Some(tenant) = self.tenants().get_mut(tenant_id) {
            change(tenant);
        }
    }

    pub fn issuer(&self, tenant_id: &str) -> String {
        format!("{}/{tenant_id}/v2.0", self.authority)
    }

    /// The key set every tenant shares (as in Entra).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk.clone()] })
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap_or_default()
    }

    /// `POST /{tid}/oauth2/v2.0/token` with `grant_type=client_credentials`.
    pub fn client_credentials(
        &self,
        tenant_id: &str,
        form: &HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let error = |status: u16, error: &str, description: &str| {
            (
                status,
                json!({ "error": error, "error_description": description }),
            )
        };
        if field("grant_type") != "client_credentials" {
            return Err(error(
                400,
                "unsupported_grant_type",
                "AADSTS70003: The app requested an unsupported grant type.",
            ));
        }
        if field("client_id") != self.client_id || !self.secret_matches(field("client_secret")) {
            return Err(error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            ));
        }
        let tenants = self.tenants();
        let Some(tenant) = tenants.get(tenant_id) else {
            return Err(error(
                400,
                "invalid_request",
                "AADSTS90002: Tenant not found.",
            ));
        };
        if !tenant.consented {
            return Err(error(
                400,
                "unauthorized_client",
                "AADSTS7000229: The client application is missing service principal in the tenant.",
            ));
        }
        let claims = json!({
            "iss": self.issuer(tenant_id), "aud": "https://graph.microsoft.com", "tid": tenant_id,
            "appid": self.client_id, "iat": now.timestamp(), "nbf": now.timestamp(),
            "exp": (now + Duration::hours(1)).timestamp(), "ver": "2.0", "roles": ["Organization.Read.All"],
        });
        Ok(
            json!({ "token_type": "Bearer", "expires_in": 3600, "access_token": self.sign(&claims) }),
        )
    }

    /// The tenant's OpenID discovery document (`{authority}/{tid}/v2.0/.well-known/...`).
    pub fn discovery(&self, tenant_id: &str) -> Option<Value> {
        self.tenants().get(tenant_id)?;
        let base = format!("{}/{tenant_id}", self.authority);
        Some(json!({
            "issuer": self.issuer(tenant_id),
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "jwks_uri": format!("{base}/discovery/v2.0/keys"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }))
    }

    /// Every user of every tenant (the `organizations` sign-in page).
    pub fn all_users(&self) -> Vec<DevUser> {
        self.tenants()
            .values()
            .flat_map(|t| t.users.clone())
            .collect()
    }

    /// `GET {authority}/{tid}/v2.0/adminconsent`, answered: where the browser goes next. As
    /// Microsoft does, the answer carries `admin_consent=True` even when consent was declined.
    pub fn admin_consent(
        &self,
        tenant_id: &str,
        params: &HashMap<String, String>,
        accept: bool,
    ) -> Result<String, String> {
        if params.get("client_id").map(String::as_str) != Some(self.client_id.as_str()) {
            return Err("AADSTS700016: Application not found in the directory.".into());
        }
        let mut back = params
            .get("redirect_uri")
            .and_then(|u| url::Url::parse(u).ok())
            .ok_or("AADSTS50011: Invalid redirect URI.")?;
        if accept {
            self.update_tenant(tenant_id, |t| t.consented = true);
        }
        let state = params.get("state").cloned().unwrap_or_default();
        let mut query = back.query_pairs_mut();
        query
            .append_pair("admin_consent", "True")
            .append_pair("tenant", tenant_id);
        if !accept {
            query.append_pair("error", "access_denied").append_pair(
                "error_description",
                "AADSTS65004: User declined to consent to access the app.",
            );
        }
        query.append_pair("state", &state);
        drop(query);
        Ok(back.to_string())
    }

    /// The tenant's name and users, for the sign-in page.
    pub fn tenant(&self, tenant_id: &str) -> Option<DevTenant> {
        self.tenants().get(tenant_id).cloned()
    }

    /// Completes an authorization request for user `oid`: the URL to send the browser back to
    /// (with `code` and `state`), or an error text for the page.
    pub fn authorize(
        &self,
        tenant_id: &str,
        params: &HashMap<String, String>,
        oid: &str,
    ) -> Result<String, String> {
        let param = |name: &str| params.get(name).cloned().unwrap_or_default();
        if param("client_id") != self.client_id {
            return Err("AADSTS700016: Application not found in the directory.".into());
        }
        if param("response_type") != "code"
            || param("code_challenge_method") != "S256"
            || param("code_challenge").is_empty()
        {
            return Err("AADSTS900144: The request must use the code flow with PKCE S256.".into());
        }
        let redirect_uri = param("redirect_uri");
        let mut back = url::Url::parse(&redirect_uri)
            .map_err(|_| "AADSTS50011: Invalid redirect URI.".to_string())?;
        // The `organizations` authority signs in a user of any tenant (the admin-consent sign-in).
        let tenant_id = if tenant_id == ORGANIZATIONS {
            self.tenants()
                .iter()
                .find(|(_, t)| t.users.iter().any(|u| u.oid == oid))
                .map(|(tid, _)| tid.clone())
                .ok_or("AADSTS50034: The user account does not exist.")?
        } else {
            tenant_id.to_string()
        };
        let tenant = self
            .tenant(&tenant_id)
            .ok_or("AADSTS90002: Tenant not found.")?;
        if !tenant.users.iter().any(|u| u.oid == oid) {
            return Err("AADSTS50034: The user account does not exist in this directory.".into());
        }
        let code = uuid::Uuid::new_v4().simple().to_string();
        self.codes.lock().unwrap_or_else(|p| p.into_inner()).insert(
            code.clone(),
            IssuedCode {
                tenant_id: tenant_id.to_string(),
                oid: oid.to_string(),
                nonce: params.get("nonce").cloned(),
                redirect_uri,
                code_challenge: param("code_challenge"),
                acrs: requested_acrs(&param("claims")),
                used: false,
            },
        );
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &param("state"));
        Ok(back.to_string())
    }

    /// The `authorization_code` grant: checks client, single use, redirect URI and PKCE.
    pub fn redeem_code(
        &self,
        tenant_id: &str,
        form: &HashMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<Value, OAuthError> {
        let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
        let error = |status: u16, error: &str, description: &str| {
            (
                status,
                json!({ "error": error, "error_description": description }),
            )
        };
        if field("client_id") != self.client_id || !self.secret_matches(field("client_secret")) {
            return Err(error(
                401,
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided.",
            ));
        }
        let mut codes = self.codes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(issued) = codes
            .get_mut(field("code"))
            .filter(|c| c.tenant_id == tenant_id || tenant_id == ORGANIZATIONS)
        else {
            return Err(error(
                400,
                "invalid_grant",
                "AADSTS9002313: Invalid request. Request is malformed or invalid.",
            ));
        };
        if issued.used {
            return Err(error(
                400,
                "invalid_grant",
                "AADSTS54005: OAuth2 Authorization code was already redeemed.",
            ));
        }
        issued.used = true;
        let challenge =
            BASE64URL_NOPAD.encode(&openssl::sha::sha256(field("code_verifier").as_bytes()));
        if field("redirect_uri") != issued.redirect_uri || challenge != issued.code_challenge {
            return Err(error(
                400,
                "invalid_grant",
                "AADSTS501481: The Code_Verifier does not match the code_challenge.",
            ));
        }
        let issued = issued.clone();
        drop(codes);
        let tenant = self
            .tenant(&issued.tenant_id)
            .ok_or_else(|| error(400, "invalid_grant", "AADSTS90002: Tenant not found."))?;
        let user = tenant
            .users
            .iter()
            .find(|u| u.oid == issued.oid)
            .ok_or_else(|| error(400, "invalid_grant", "AADSTS50034: User not found."))?;
        let satisfied = self
            .satisfies_auth_context
            .load(std::sync::atomic::Ordering::SeqCst);
        let extra = match issued.acrs {
            Some(context) if satisfied => json!({ "acrs": [context] }),
            _ => json!({}),
        };
        let id_token = self.id_token(&issued.tenant_id, user, issued.nonce.as_deref(), now, extra);
        Ok(
            json!({ "token_type": "Bearer", "expires_in": 3600, "access_token": uuid::Uuid::new_v4().simple().to_string(), "id_token": id_token, "scope": "openid profile email" }),
        )
    }

    /// `GET /v1.0/organization` with a token from `client_credentials`.
    pub fn organization(&self, bearer: &str) -> Result<Value, u16> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://graph.microsoft.com"]);
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<Value>(bearer, &self.decoding, &validation)
            .map_err(|_| 401u16)?
            .claims;
        let tenant_id = claims["tid"].as_str().ok_or(401u16)?;
        let tenants = self.tenants();
        let tenant = tenants
            .get(tenant_id)
            .filter(|t| t.consented)
            .ok_or(403u16)?;
        let id = tenant
            .graph_id_override
            .clone()
            .unwrap_or_else(|| tenant_id.to_string());
        Ok(json!({ "value": [{
            "id": id,
            "displayName": tenant.display_name,
            "verifiedDomains": tenant.verified_domains.iter().map(|d| json!({ "name": d, "isVerified": true })).collect::<Vec<_>>(),
        }]}))
    }

    /// An ID token of `user` in `tenant_id` for the broker's app, as Entra v2.0 issues them
    /// (no `amr`). `extra` claims are merged in last (tests use it to forge variants).
    pub fn id_token(
        &self,
        tenant_id: &str,
        user: &DevUser,
        nonce: Option<&str>,
        now: DateTime<Utc>,
        extra: Value,
    ) -> String {
        let mut claims = json!({
            "iss": self.issuer(tenant_id), "aud": self.client_id, "tid": tenant_id,
            "oid": user.oid, "sub": format!("sub-{}", user.oid), "ver": "2.0",
            "iat": now.timestamp(), "nbf": now.timestamp(), "exp": (now + Duration::hours(1)).timestamp(),
            "name": user.name, "email": user.email, "preferred_username": user.email,
            "xms_edov": user.email_verified,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if !user.wids.is_empty() {
            claims["wids"] = json!(user.wids);
        }
        if let (Some(target), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                target.insert(k.clone(), v.clone());
            }
        }
        self.sign(&claims)
    }
}

/// The authentication context a `claims` request parameter asks for:
/// `{"id_token":{"acrs":{"essential":true,"value":"c1"}}}` (or `values`).
fn requested_acrs(claims: &str) -> Option<String> {
    let claims: Value = serde_json::from_str(claims).ok()?;
    let acrs = &claims["id_token"]["acrs"];
    acrs["value"]
        .as_str()
        .or_else(|| acrs["values"][0].as_str())
        .map(str::to_string)
}

pub mod saml;
