//! Entra signing keys shared by every instance: each fetched set is kept in the database as the
//! tenant's last good set, and used when Microsoft cannot be reached (an instance started
//! during an outage still validates tokens); the refresh limit for unknown key ids holds per
//! tenant across instances.

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use jsonwebtoken::jwk::JwkSet;

use crate::clock::SharedClock;
use crate::db::entra_key_set::EntraKeySet;
use crate::db::Db;

use crate::sso::entra::jwks::REFRESH_INTERVAL;
use crate::sso::entra::{HttpJwksSource, JwksSource, TenantId};
use crate::sso::SsoError;

pub struct StoredJwksSource {
    http: HttpJwksSource,
    db: Db,
    clock: SharedClock,
}

impl StoredJwksSource {
    pub fn new(http: HttpJwksSource, db: Db, clock: SharedClock) -> Self {
        Self { http, db, clock }
    }

    async fn save(&self, tenant: &TenantId, set: &JwkSet) {
        let json = match serde_json::to_string(set) {
            Ok(json) => json,
            Err(e) => {
                log::warn!("signing keys of tenant {tenant} not kept for outages: {e}");
                return;
            }
        };
        let (tid, now) = (tenant.to_string(), self.clock.now_naive());
        let saved = self
            .db
            .run(move |conn| EntraKeySet::save(conn, &tid, &json, now))
            .await;
        if let Err(e) = saved {
            log::warn!("signing keys of tenant {tenant} not kept for outages: {e}");
        }
    }

    async fn last_good(&self, tenant: &TenantId) -> Option<(JwkSet, chrono::NaiveDateTime)> {
        let tid = tenant.to_string();
        let row = self
            .db
            .run(move |conn| EntraKeySet::find(conn, &tid))
            .await
            .ok()
            .flatten()?;
        let set = serde_json::from_str(&row.jwks).ok()?;
        Some((set, row.fetched_at))
    }
}

impl JwksSource for StoredJwksSource {
    fn fetch<'a>(&'a self, tenant: &'a TenantId) -> BoxFuture<'a, Result<JwkSet, SsoError>> {
        Box::pin(async move {
            match self.http.fetch(tenant).await {
                Ok(set) => {
                    self.save(tenant, &set).await;
                    Ok(set)
                }
                Err(e @ SsoError::IdpUnreachable(_)) => match self.last_good(tenant).await {
                    Some((set, fetched_at)) => {
                        log::warn!(
                            "signing keys of tenant {tenant} unreachable ({e}); using the set fetched at {fetched_at}"
                        );
                        Ok(set)
                    }
                    None => Err(e),
                },
                Err(e) => Err(e),
            }
        })
    }

    fn may_refresh<'a>(&'a self, tenant: &'a TenantId, now: DateTime<Utc>) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let tid = tenant.to_string();
            let claimed = self
                .db
                .run(move |conn| {
                    EntraKeySet::claim_refresh(conn, &tid, now.naive_utc(), REFRESH_INTERVAL)
                })
                .await;
            // Without the database, this process's own limit still applies.
            claimed.unwrap_or(true)
        })
    }
}
