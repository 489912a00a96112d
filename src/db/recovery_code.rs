//! `recovery_codes`: single-use TOTP recovery codes, stored as keyed hashes.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::recovery_codes;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = recovery_codes)]
pub struct RecoveryCode {
    pub id: String,
    pub user_id: String,
    pub code_hash: String,
    pub created_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

impl RecoveryCode {
    /// Replaces every code of the user with `codes` (in one transaction of the caller).
    pub fn replace_all(
        conn: &mut DbConnection,
        user_id: &str,
        codes: &[Self],
    ) -> Result<(), DbError> {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
            .execute(conn)?;
        // MultiConnection has no batch insert; ten rows one by one, in the caller's transaction.
        for code in codes {
            diesel::insert_into(recovery_codes::table)
                .values(code)
                .execute(conn)?;
        }
        Ok(())
    }

    /// Uses the unused code with this hash; false when there is none (wrong or already used).
    pub fn consume(
        conn: &mut DbConnection,
        user_id: &str,
        code_hash: &str,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let n = diesel::update(
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user_id))
                .filter(recovery_codes::code_hash.eq(code_hash))
                .filter(recovery_codes::used_at.is_null()),
        )
        .set(recovery_codes::used_at.eq(now))
        .execute(conn)?;
        Ok(n == 1)
    }

    pub fn count_unused(conn: &mut DbConnection, user_id: &str) -> Result<i64, DbError> {
        Ok(recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::used_at.is_null())
            .count()
            .get_result(conn)?)
    }
}
