//! `outbox`: emails waiting to be delivered (SMTP or `.eml` files).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::outbox;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
pub struct OutboxMessage {
    pub id: String,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

impl OutboxMessage {
    /// Gives up on a message after this many failed attempts.
    pub const MAX_ATTEMPTS: i32 = 10;

    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(outbox::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn pending(conn: &mut DbConnection, limit: i64) -> Result<Vec<Self>, DbError> {
        Ok(outbox::table
            .filter(outbox::sent_at.is_null())
            .filter(outbox::attempts.lt(Self::MAX_ATTEMPTS))
            .order(outbox::created_at.asc())
            .limit(limit)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Claims the message for delivery; false when another instance sent it meanwhile.
    pub fn mark_sent(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let n = diesel::update(outbox::table.find(id).filter(outbox::sent_at.is_null()))
            .set(outbox::sent_at.eq(now))
            .execute(conn)?;
        Ok(n == 1)
    }

    pub fn mark_failed(conn: &mut DbConnection, id: &str, error: &str) -> Result<(), DbError> {
        diesel::update(outbox::table.find(id))
            .set((
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::last_error.eq(error),
            ))
            .execute(conn)?;
        Ok(())
    }
}
