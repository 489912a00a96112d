//! Each tenant's signing keys (SPEC §4), cached by `kid`.
//!
//! An unknown `kid` triggers at most one refresh per tenant per five minutes (the first fetch of
//! a tenant does not count); a failed fetch keeps the last good keys. Callers check that the
//! tenant is approved before asking for keys, so nobody can make the broker fetch key sets for
//! arbitrary tenants.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::DecodingKey;
use url::Url;

use super::tenant::TenantId;
use crate::sso::SsoError;

/// The shortest time between two refreshes of one tenant's keys for unknown key ids.
pub const REFRESH_INTERVAL: Duration = Duration::minutes(5);

/// Where key sets come from (HTTP in production, a fake in tests).
pub trait JwksSource: Send + Sync {
    fn fetch<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, Result<JwkSet, SsoError>>;

    /// Whether an unknown `kid` may make `tenant`'s keys be fetched again at `now`, beyond this
    /// process's own limit (a source shared by several instances limits them together).
    fn may_refresh<'a>(
        &'a self,
        _tenant: &'a TenantId,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async { true })
    }
}

/// Fetches `{authority}/{tid}/discovery/v2.0/keys`.
pub struct HttpJwksSource {
    client: reqwest::Client,
    authority: Url,
}

impl HttpJwksSource {
    /// # Security
    /// Redirects are not followed (reqwest's SSRF warning): a key set comes from the authority
    /// itself or not at all.
    pub fn new(authority: Url, timeout: std::time::Duration) -> Result<Self, SsoError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| SsoError::IdpUnreachable(e.into()))?;
        Ok(Self { client, authority })
    }
}

impl JwksSource for HttpJwksSource {
    fn fetch<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, Result<JwkSet, SsoError>> {
        Box::pin(async move {
            let unreachable = |e: reqwest::Error| SsoError::IdpUnreachable(e.into());
            self.client
                .get(tenant.jwks_url(&self.authority))
                .send()
                .await
                .map_err(unreachable)?
                .error_for_status()
                .map_err(unreachable)?
                .json::<JwkSet>()
                .await
                .map_err(unreachable)
        })
    }
}

struct TenantKeys {
    keys: HashMap<String, Arc<DecodingKey>>,
    /// When an unknown `kid` last made us refresh.
    last_refresh: Option<DateTime<Utc>>,
}

/// Signing keys of every tenant seen, by tenant and `kid`.
pub struct KeyCache {
    source: Arc<dyn JwksSource>,
    tenants: Mutex<HashMap<TenantId, TenantKeys>>,
}

enum Lookup {
    Found(Arc<DecodingKey>),
    FirstFetch,
    Refresh,
    TooSoon,
}

impl KeyCache {
    pub fn new(source: Arc<dyn JwksSource>) -> Self {
        Self {
            source,
            tenants: Mutex::new(HashMap::new()),
        }
    }

    fn tenants(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, TenantKeys>> {
        self.tenants
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The key `kid` of `tenant` at `now`, fetching or refreshing within the limits above.
    pub async fn key(
        &self,
        tenant: &TenantId,
        kid: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<DecodingKey>, SsoError> {
        let lookup = {
            let mut tenants = self.tenants();
            match tenants.get_mut(tenant) {
                None => Lookup::FirstFetch,
                Some(known) => match known.keys.get(kid) {
                    Some(key) => Lookup::Found(key.clone()),
                    None if known
                        .last_refresh
                        .is_some_and(|at| now - at < REFRESH_INTERVAL) =>
                    {
                        Lookup::TooSoon
                    }
                    None => {
                        // Recorded before fetching, so concurrent requests do not all refresh.
                        known.last_refresh = Some(now);
                        Lookup::Refresh
                    }
                },
            }
        };
        match lookup {
            Lookup::Found(key) => return Ok(key),
            Lookup::TooSoon => return Err(SsoError::UnknownKey),
            Lookup::Refresh if !self.source.may_refresh(tenant, now).await => {
                return Err(SsoError::UnknownKey)
            }
            Lookup::FirstFetch | Lookup::Refresh => self.fetch_into_cache(tenant).await?,
        }
        self.tenants()
            .get(tenant)
            .and_then(|known| known.keys.get(kid).cloned())
            .ok_or(SsoError::UnknownKey)
    }

    /// Fetches the tenant's set; a usable set replaces the cached one, anything else keeps it.
    async fn fetch_into_cache(&self, tenant: &TenantId) -> Result<(), SsoError> {
        let set = self.source.fetch(tenant).await?;
        let keys = usable_keys(&set);
        let mut tenants = self.tenants();
        let entry = tenants.entry(tenant.clone()).or_insert_with(|| TenantKeys {
            keys: HashMap::new(),
            last_refresh: None,
        });
        if !keys.is_empty() {
            entry.keys = keys;
        }
        Ok(())
    }

    /// Refreshes every cached tenant (the hourly background job). Failures keep the last good
    /// keys and are logged.
    pub async fn refresh_all(&self) {
        let tenants: Vec<TenantId> = self.tenants().keys().cloned().collect();
        for tenant in tenants {
            if let Err(e) = self.fetch_into_cache(&tenant).await {
                log::warn!("signing keys of tenant {tenant} not refreshed: {e}");
            }
        }
    }
}

/// RSA signing keys with a `kid`, parsed once.
fn usable_keys(set: &JwkSet) -> HashMap<String, Arc<DecodingKey>> {
    set.keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((kid, Arc::new(key)))
        })
        .collect()
}
