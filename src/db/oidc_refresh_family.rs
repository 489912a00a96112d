//! `oidc_refresh_families`: everything descended from one authorization code (SPEC §7.2) — its
//! refresh tokens and the access tokens minted with them — with the sign-in it rests on, so
//! every refresh can re-check it (SPEC §3.8). Revoked as a whole.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::oidc_refresh_families;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = oidc_refresh_families)]
pub struct OidcRefreshFamily {
    pub id: String,
    /// The SHA-256 of the code the family descends from.
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub account_id: String,
    pub sid: String,
    pub scope: String,
    /// With `offline_access` the family outlives the broker session (up to `expires_at`).
    pub offline_access: bool,
    pub auth_time: NaiveDateTime,
    /// How the session was signed in (JSON of `oidc_provider::claims::SignInFacts`).
    pub sign_in: String,
    pub created_at: NaiveDateTime,
    /// `offline_access` families: the end of `SSO_BROKER_OIDC_OFFLINE_DAYS` after the sign-in.
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
}

impl OidcRefreshFamily {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(oidc_refresh_families::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Self>, DbError> {
        Ok(oidc_refresh_families::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Revokes the family (if it is not already); true when this call revoked it.
    pub fn revoke(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
        reason: &str,
    ) -> Result<bool, DbError> {
        let n = diesel::update(
            oidc_refresh_families::table
                .find(id)
                .filter(oidc_refresh_families::revoked_at.is_null()),
        )
        .set((
            oidc_refresh_families::revoked_at.eq(now),
            oidc_refresh_families::revoked_reason.eq(reason),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Revokes every live family issued from the code `code_hash`; returns how many.
    pub fn revoke_for_code(
        conn: &mut DbConnection,
        code_hash: &str,
        now: NaiveDateTime,
        reason: &str,
    ) -> Result<usize, DbError> {
        Ok(diesel::update(
            oidc_refresh_families::table
                .filter(oidc_refresh_families::code_hash.eq(code_hash))
                .filter(oidc_refresh_families::revoked_at.is_null()),
        )
        .set((
            oidc_refresh_families::revoked_at.eq(now),
            oidc_refresh_families::revoked_reason.eq(reason),
        ))
        .execute(conn)?)
    }

    /// Revokes every live family of the client `client_id`; returns how many.
    pub fn revoke_for_client(
        conn: &mut DbConnection,
        client_id: &str,
        now: NaiveDateTime,
        reason: &str,
    ) -> Result<usize, DbError> {
        Ok(diesel::update(
            oidc_refresh_families::table
                .filter(oidc_refresh_families::client_id.eq(client_id))
                .filter(oidc_refresh_families::revoked_at.is_null()),
        )
        .set((
            oidc_refresh_families::revoked_at.eq(now),
            oidc_refresh_families::revoked_reason.eq(reason),
        ))
        .execute(conn)?)
    }

    /// Every family issued in the broker session `sid` of `user_id`, revoked or not: the
    /// clients that hold (or held) tokens from that session.
    pub fn for_session(
        conn: &mut DbConnection,
        user_id: &str,
        sid: &str,
    ) -> Result<Vec<Self>, DbError> {
        Ok(oidc_refresh_families::table
            .filter(oidc_refresh_families::user_id.eq(user_id))
            .filter(oidc_refresh_families::sid.eq(sid))
            .order(oidc_refresh_families::created_at.asc())
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Revokes the live families of the session `sid` of `user_id` that lack
    /// `offline_access` (they end with the session); returns how many.
    pub fn revoke_online_for_session(
        conn: &mut DbConnection,
        user_id: &str,
        sid: &str,
        now: NaiveDateTime,
        reason: &str,
    ) -> Result<usize, DbError> {
        Ok(diesel::update(
            oidc_refresh_families::table
                .filter(oidc_refresh_families::user_id.eq(user_id))
                .filter(oidc_refresh_families::sid.eq(sid))
                .filter(oidc_refresh_families::offline_access.eq(false))
                .filter(oidc_refresh_families::revoked_at.is_null()),
        )
        .set((
            oidc_refresh_families::revoked_at.eq(now),
            oidc_refresh_families::revoked_reason.eq(reason),
        ))
        .execute(conn)?)
    }

    /// The broker sessions (`sid`) of `user_id` that still have a live family.
    pub fn live_sids_of_user(
        conn: &mut DbConnection,
        user_id: &str,
    ) -> Result<Vec<String>, DbError> {
        Ok(oidc_refresh_families::table
            .filter(oidc_refresh_families::user_id.eq(user_id))
            .filter(oidc_refresh_families::revoked_at.is_null())
            .select(oidc_refresh_families::sid)
            .distinct()
            .load(conn)?)
    }

    /// The `(user_id, sid)` of every broker session with a live family lacking
    /// `offline_access`: the sessions whose end the purge job looks for.
    pub fn live_online_sessions(conn: &mut DbConnection) -> Result<Vec<(String, String)>, DbError> {
        Ok(oidc_refresh_families::table
            .filter(oidc_refresh_families::offline_access.eq(false))
            .filter(oidc_refresh_families::revoked_at.is_null())
            .select((oidc_refresh_families::user_id, oidc_refresh_families::sid))
            .distinct()
            .load(conn)?)
    }

    /// `(user_id, sid)` of every session whose live families all outlive it (`offline_access`)
    /// and hold tokens of a client with a back-channel logout URI that was not yet told the
    /// session ended.
    pub fn unannounced_offline_sessions(
        conn: &mut DbConnection,
        now: NaiveDateTime,
    ) -> Result<Vec<(String, String)>, DbError> {
        use super::schema::{oidc_backchannel_logouts as told, oidc_clients};
        use diesel::dsl::{exists, not};
        let families = oidc_refresh_families::table;
        Ok(families
            .inner_join(
                oidc_clients::table.on(oidc_clients::id.eq(oidc_refresh_families::client_id)),
            )
            .filter(oidc_refresh_families::offline_access.eq(true))
            .filter(oidc_refresh_families::revoked_at.is_null())
            .filter(oidc_refresh_families::expires_at.gt(now))
            .filter(oidc_clients::backchannel_logout_uri.is_not_null())
            .filter(not(exists(
                told::table
                    .filter(told::client_id.eq(oidc_refresh_families::client_id))
                    .filter(told::sid.eq(oidc_refresh_families::sid)),
            )))
            .select((oidc_refresh_families::user_id, oidc_refresh_families::sid))
            .distinct()
            .load(conn)?)
    }
}
