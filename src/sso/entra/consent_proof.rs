//! Proof of admin consent (SPEC §3.3 step 4): a client-credentials token for the tenant, then
//! Microsoft Graph `GET /v1.0/organization`, whose `value[0].id` must be the tenant.
//!
//! The `tenant` parameter of a consent callback proves nothing (Microsoft's docs say so); only a
//! token the tenant issues to our app does. The same proof, repeated, detects a customer who
//! removed the app (the token can no longer be obtained).

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::tenant::TenantId;
use crate::sso::SsoError;

/// The scope of the client-credentials request (SPEC §3.3).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// What Graph says about a tenant that consented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantProfile {
    pub tenant_id: TenantId,
    pub display_name: String,
    pub verified_domains: Vec<String>,
}

/// The outcome of a proof that reached Microsoft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentProof {
    Granted(TenantProfile),
    /// The tenant refused us a token, or Graph disagreed. `reason` is an audit code (e.g. the
    /// AADSTS error number), never Microsoft's raw text.
    Refused {
        reason: String,
    },
}

/// The broker's multi-tenant app registration, as a client of Entra and Graph.
pub struct EntraApp {
    pub client_id: String,
    client_secret: SecretString,
    authority: Url,
    graph: Url,
    http: reqwest::Client,
}

impl std::fmt::Debug for EntraApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntraApp")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn base(url: &Url) -> &str {
    url.as_str().trim_end_matches('/')
}

/// `AADSTS7000229` from Microsoft's `error_description`, else the OAuth `error`.
/// AADSTS errors that are about *our* app registration (expired or wrong client secret, app
/// disabled), not about the tenant: they must never revoke a customer's tenant.
const BROKER_SIDE_ERRORS: &[&str] = &[
    "AADSTS7000215",
    "AADSTS7000222",
    "AADSTS7000112",
    "AADSTS700027",
];

fn refusal_reason(body: &Value) -> String {
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|word| word.starts_with("AADSTS"))
        .map(str::to_string)
        .or_else(|| {
            body.get("error")
                .and_then(Value::as_str)
                .map(|e| e.chars().take(64).collect())
        })
        .unwrap_or_else(|| "token_refused".to_string())
}

impl EntraApp {
    /// # Security
    /// Redirects are not followed and requests time out, so a slow or hostile endpoint cannot
    /// hold a request or bounce it elsewhere.
    pub fn new(
        client_id: String,
        client_secret: SecretString,
        authority: Url,
        graph: Url,
        timeout: std::time::Duration,
    ) -> Result<Self, SsoError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SsoError::IdpUnreachable(e.into()))?;
        Ok(Self {
            client_id,
            client_secret,
            authority,
            graph,
            http,
        })
    }

    pub fn authority(&self) -> &Url {
        &self.authority
    }

    /// Runs the proof for `tenant`. `Err` only when Microsoft could not be reached (network,
    /// timeout, 5xx): then nothing about the tenant may be concluded.
    pub async fn prove_consent(&self, tenant: &TenantId) -> Result<ConsentProof, SsoError> {
        let unreachable = |e: reqwest::Error| SsoError::IdpUnreachable(e.into());
        let token_url = format!("{}/{}/oauth2/v2.0/token", base(&self.authority), tenant);
        let response = self
            .http
            .post(token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
                ("scope", GRAPH_SCOPE),
            ])
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(SsoError::IdpUnreachable(anyhow::anyhow!(
                "token endpoint answered {status}"
            )));
        }
        let body: Value = response.json().await.map_err(unreachable)?;
        if !status.is_success() {
            let reason = refusal_reason(&body);
            // Throttling and faults of our own registration say nothing about the tenant: an
            // outage, not a revocation (else one expired secret would revoke every customer).
            if status.as_u16() == 429
                || reason == "invalid_client"
                || BROKER_SIDE_ERRORS.contains(&reason.as_str())
            {
                return Err(SsoError::IdpUnreachable(anyhow::anyhow!(
                    "token endpoint refused the broker's app: {reason} ({status})"
                )));
            }
            return Ok(ConsentProof::Refused { reason });
        }
        let Some(access_token) = body.get("access_token").and_then(Value::as_str) else {
            return Ok(ConsentProof::Refused {
                reason: "no_access_token".into(),
            });
        };

        let response = self
            .http
            .get(format!("{}/v1.0/organization", base(&self.graph)))
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(SsoError::IdpUnreachable(anyhow::anyhow!(
                "Graph answered {status}"
            )));
        }
        if status.as_u16() == 429 {
            return Err(SsoError::IdpUnreachable(anyhow::anyhow!(
                "Graph throttled the request"
            )));
        }
        if !status.is_success() {
            return Ok(ConsentProof::Refused {
                reason: format!("graph_{}", status.as_u16()),
            });
        }
        let body: Value = response.json().await.map_err(unreachable)?;
        let org = &body["value"][0];
        if org.get("id").and_then(Value::as_str) != Some(tenant.as_str()) {
            return Ok(ConsentProof::Refused {
                reason: "graph_tenant_mismatch".into(),
            });
        }
        let verified_domains = org["verifiedDomains"]
            .as_array()
            .map(|domains| {
                domains
                    .iter()
                    .filter_map(|d| d.get("name").and_then(Value::as_str))
                    .map(|d| d.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        Ok(ConsentProof::Granted(TenantProfile {
            tenant_id: tenant.clone(),
            display_name: org
                .get("displayName")
                .and_then(Value::as_str)
                .unwrap_or(tenant.as_str())
                .chars()
                .take(256)
                .collect(),
            verified_domains,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_reduced_to_their_aadsts_code() {
        let body = serde_json::json!({"error": "unauthorized_client", "error_description": "AADSTS7000229: The client application is missing service principal in the tenant.\r\nTrace ID: 1"});
        assert_eq!(refusal_reason(&body), "AADSTS7000229");
        assert_eq!(
            refusal_reason(&serde_json::json!({"error": "invalid_client"})),
            "invalid_client"
        );
    }
}
