//! `outbox`: emails waiting to be delivered (SMTP or `.eml` files). A body is either clear text
//! (notices) or `sealed:` + the installation key's sealed form (secrets); once the message is
//! sent the body is erased, so the row keeps only who was sent what subject when.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::outbox;
use super::{DbConnection, DbError};
use crate::crypto::{KeyError, SecretBox};

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

    /// Marks a stored body as sealed.
    const SEALED_PREFIX: &'static str = "sealed:";

    /// A message not yet sent; `body_text` as stored (clear, or from `seal_body`).
    pub fn new(to: &str, subject: &str, body_text: String, now: NaiveDateTime) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            to_address: to.to_string(),
            subject: subject.to_string(),
            body_text,
            created_at: now,
            sent_at: None,
            attempts: 0,
            last_error: None,
        }
    }

    /// The stored form of a body that carries a secret.
    pub fn seal_body(secret_box: &SecretBox, body: &str) -> String {
        format!(
            "{}{}",
            Self::SEALED_PREFIX,
            secret_box.seal(body.as_bytes())
        )
    }

    /// The body to send (opened when sealed).
    pub fn open_body(&self, secret_box: &SecretBox) -> Result<String, KeyError> {
        match self.body_text.strip_prefix(Self::SEALED_PREFIX) {
            Some(sealed) => {
                String::from_utf8(secret_box.open(sealed)?).map_err(|_| KeyError::Decrypt)
            }
            None => Ok(self.body_text.clone()),
        }
    }

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

    /// Claims the message for delivery and erases its body (SPEC §3.8: a sent secret is not
    /// kept); false when another instance sent it meanwhile.
    pub fn mark_sent(
        conn: &mut DbConnection,
        id: &str,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        let n = diesel::update(outbox::table.find(id).filter(outbox::sent_at.is_null()))
            .set((outbox::sent_at.eq(now), outbox::body_text.eq("")))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Counts a failed attempt; a message given up on loses its body like a sent one.
    pub fn mark_failed(conn: &mut DbConnection, id: &str, error: &str) -> Result<(), DbError> {
        diesel::update(outbox::table.find(id))
            .set((
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::last_error.eq(error),
            ))
            .execute(conn)?;
        diesel::update(
            outbox::table
                .find(id)
                .filter(outbox::attempts.ge(Self::MAX_ATTEMPTS)),
        )
        .set(outbox::body_text.eq(""))
        .execute(conn)?;
        Ok(())
    }
}
