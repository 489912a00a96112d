//! `users`: portal users, their password hash and TOTP state.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::users;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub home_account_id: String,
    pub username: String,
    pub email: String,
    pub password_hash: Option<String>,
    /// The TOTP seed sealed with the installation key; present while enrolling and once enrolled.
    pub totp_secret_enc: Option<String>,
    pub totp_enabled: bool,
    /// The last accepted TOTP time step: a code of this step or earlier is a replay.
    pub totp_last_step: Option<i64>,
    pub status: String,
    pub must_change_password: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// As the user's IdP last sent it at an SSO sign-in (SPEC §7.3 `profile`).
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// When an invitation confirmed the email (SPEC §7.3 `email_verified`).
    pub email_verified_at: Option<NaiveDateTime>,
}

impl User {
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(users::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Self>, DbError> {
        Ok(users::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn find_by_username(
        conn: &mut DbConnection,
        username: &str,
    ) -> Result<Option<Self>, DbError> {
        Ok(users::table
            .filter(users::username.eq(username))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// The members of `account_id` with this (lowercase) email; legacy data may hold several.
    pub fn find_by_email_in_account(
        conn: &mut DbConnection,
        email: &str,
        account_id: &str,
    ) -> Result<Vec<Self>, DbError> {
        use super::schema::memberships;
        Ok(users::table
            .inner_join(memberships::table)
            .filter(users::email.eq(email))
            .filter(memberships::account_id.eq(account_id))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Every user with this (lowercase) email; legacy data may hold several.
    pub fn find_by_email(conn: &mut DbConnection, email: &str) -> Result<Vec<Self>, DbError> {
        Ok(users::table
            .filter(users::email.eq(email))
            .select(Self::as_select())
            .limit(10)
            .load(conn)?)
    }

    pub fn set_password_hash(
        conn: &mut DbConnection,
        id: &str,
        hash: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::must_change_password.eq(false),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn set_pending_totp(
        conn: &mut DbConnection,
        id: &str,
        sealed: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        diesel::update(users::table.find(id).filter(users::totp_enabled.eq(false)))
            .set((users::totp_secret_enc.eq(sealed), users::updated_at.eq(now)))
            .execute(conn)?;
        Ok(())
    }

    /// Notes that the user proved their email (an invitation link reached them); the first
    /// proof's time is kept.
    pub fn confirm_email(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::update(users::table.find(id))
            .filter(users::email_verified_at.is_null())
            .set(users::email_verified_at.eq(now))
            .execute(conn)?;
        Ok(())
    }

    /// Keeps the names the user's IdP sent.
    pub fn set_names(
        conn: &mut DbConnection,
        id: &str,
        given_name: Option<&str>,
        family_name: Option<&str>,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::update(users::table.find(id))
            .set((
                users::given_name.eq(given_name),
                users::family_name.eq(family_name),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    pub fn set_status(
        conn: &mut DbConnection,
        id: &str,
        status: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::update(users::table.find(id))
            .set((users::status.eq(status), users::updated_at.eq(now)))
            .execute(conn)?;
        Ok(())
    }

    pub fn enable_totp(
        conn: &mut DbConnection,
        id: &str,
        step: i64,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        diesel::update(users::table.find(id))
            .set((
                users::totp_enabled.eq(true),
                users::totp_last_step.eq(step),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Records `step` as used, only if it is newer than the last used step. Returns false when
    /// another request used this step (or a later one) first: the code is then a replay.
    pub fn consume_totp_step(
        conn: &mut DbConnection,
        id: &str,
        step: i64,
    ) -> Result<bool, DbError> {
        let updated = diesel::update(
            users::table.find(id).filter(
                users::totp_last_step
                    .is_null()
                    .or(users::totp_last_step.lt(step)),
            ),
        )
        .set(users::totp_last_step.eq(step))
        .execute(conn)?;
        Ok(updated == 1)
    }

    /// Every member of `account_id` with the role there, ordered by username.
    pub fn list_members(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> Result<Vec<(Self, String)>, DbError> {
        use super::schema::memberships;
        Ok(users::table
            .inner_join(memberships::table)
            .filter(memberships::account_id.eq(account_id))
            .order(users::username.asc())
            .select((Self::as_select(), memberships::role))
            .load(conn)?)
    }

    pub fn set_username(
        conn: &mut DbConnection,
        id: &str,
        username: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::update(users::table.find(id))
            .set((users::username.eq(username), users::updated_at.eq(now)))
            .execute(conn)?;
        Ok(())
    }

    /// Forgets the TOTP seed (enrolled or pending): the user signs in with the password alone and
    /// may enroll again. Recovery codes are the caller's to delete in the same transaction.
    pub fn reset_totp(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        diesel::update(users::table.find(id))
            .set((
                users::totp_secret_enc.eq(None::<String>),
                users::totp_enabled.eq(false),
                users::totp_last_step.eq(None::<i64>),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// A temporary password (SSO rollback, admin reset): active, and changed at the next sign-in.
    pub fn set_temporary_password(
        conn: &mut DbConnection,
        id: &str,
        hash: &str,
        now: NaiveDateTime,
    ) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(hash),
                users::must_change_password.eq(true),
                users::status.eq("active"),
                users::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    }
}
