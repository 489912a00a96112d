//! `oidc_signing_keys`: the OpenID Provider's signing keys (SPEC §7.4). The highest generation
//! signs; `generation` is unique so that two instances cannot both add the next key.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::oidc_signing_keys;
use super::{DbConnection, DbError};

/// Advisory lock id held while a signing key is added (PostgreSQL).
const ROTATION_LOCK_ID: i64 = 0x004f_4944_434b_4559;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_signing_keys)]
pub struct OidcSigningKey {
    pub kid: String,
    pub generation: i64,
    /// `RS256`.
    pub algorithm: String,
    /// The public key as a JWK (JSON), as the JWKS publishes it.
    pub public_jwk: String,
    /// The private key (PKCS#1 DER), sealed with the installation key.
    pub private_key_sealed: String,
    pub created_at: NaiveDateTime,
    /// When a newer key replaced it; `None` while it signs.
    pub retired_at: Option<NaiveDateTime>,
    /// When it leaves the JWKS (every token it signed has expired); `None` while it signs.
    pub published_until: Option<NaiveDateTime>,
}

impl std::fmt::Debug for OidcSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSigningKey")
            .field("kid", &self.kid)
            .field("generation", &self.generation)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("published_until", &self.published_until)
            .finish_non_exhaustive()
    }
}

impl OidcSigningKey {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(oidc_signing_keys::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConnection, kid: &str) -> Result<Option<Self>, DbError> {
        Ok(oidc_signing_keys::table
            .find(kid)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Serialises key additions until the transaction ends, so the check for a key another
    /// instance just added is exact. PostgreSQL takes a transaction-scoped advisory lock;
    /// SQLite's `BEGIN IMMEDIATE` already serialises writing transactions (`db::transaction`).
    /// The unique generation stays the backstop.
    pub fn lock_for_rotation(conn: &mut DbConnection) -> Result<(), DbError> {
        if let DbConnection::Postgres(pg) = conn {
            use diesel::connection::SimpleConnection;
            pg.batch_execute(&format!("SELECT pg_advisory_xact_lock({ROTATION_LOCK_ID})"))?;
        }
        Ok(())
    }

    /// The key that signs now: the highest generation.
    pub fn current(conn: &mut DbConnection) -> Result<Option<Self>, DbError> {
        Ok(oidc_signing_keys::table
            .order(oidc_signing_keys::generation.desc())
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// The keys the JWKS publishes at `now`: the signing key and every retired key whose
    /// tokens may still be valid, newest first.
    pub fn published(conn: &mut DbConnection, now: NaiveDateTime) -> Result<Vec<Self>, DbError> {
        Ok(oidc_signing_keys::table
            .filter(
                oidc_signing_keys::published_until
                    .is_null()
                    .or(oidc_signing_keys::published_until.gt(now)),
            )
            .order(oidc_signing_keys::generation.desc())
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Every key, newest first (for tests and operators; never served).
    pub fn all(conn: &mut DbConnection) -> Result<Vec<Self>, DbError> {
        Ok(oidc_signing_keys::table
            .order(oidc_signing_keys::generation.desc())
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Marks the key `kid` as replaced at `at`, published until `until`.
    pub fn retire(
        conn: &mut DbConnection,
        kid: &str,
        at: NaiveDateTime,
        until: NaiveDateTime,
    ) -> Result<(), DbError> {
        diesel::update(
            oidc_signing_keys::table
                .find(kid)
                .filter(oidc_signing_keys::retired_at.is_null()),
        )
        .set((
            oidc_signing_keys::retired_at.eq(at),
            oidc_signing_keys::published_until.eq(until),
        ))
        .execute(conn)?;
        Ok(())
    }

    /// Deletes retired keys that left the JWKS before `now`: nothing they signed is valid any
    /// more, so their private keys are not kept.
    pub fn purge_unpublished(
        conn: &mut DbConnection,
        now: NaiveDateTime,
    ) -> Result<usize, DbError> {
        Ok(diesel::delete(
            oidc_signing_keys::table.filter(oidc_signing_keys::published_until.le(now)),
        )
        .execute(conn)?)
    }
}
