//! `throttle_events`: failed sign-in attempts per bucket (`user:…`, `ip:…`), shared by every
//! instance through the database.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::throttle_events;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = throttle_events)]
pub struct ThrottleEvent {
    pub id: String,
    pub bucket: String,
    pub at: NaiveDateTime,
}

impl ThrottleEvent {
    /// Records an event; returns its id.
    pub fn record(
        conn: &mut DbConnection,
        bucket: &str,
        at: NaiveDateTime,
    ) -> Result<String, DbError> {
        let row = Self {
            id: uuid::Uuid::new_v4().to_string(),
            bucket: bucket.to_string(),
            at,
        };
        diesel::insert_into(throttle_events::table)
            .values(&row)
            .execute(conn)?;
        Ok(row.id)
    }

    pub fn count_since(
        conn: &mut DbConnection,
        bucket: &str,
        since: NaiveDateTime,
    ) -> Result<i64, DbError> {
        Ok(throttle_events::table
            .filter(throttle_events::bucket.eq(bucket))
            .filter(throttle_events::at.ge(since))
            .count()
            .get_result(conn)?)
    }

    pub fn delete(conn: &mut DbConnection, id: &str) -> Result<(), DbError> {
        diesel::delete(throttle_events::table.find(id)).execute(conn)?;
        Ok(())
    }

    pub fn clear(conn: &mut DbConnection, bucket: &str) -> Result<(), DbError> {
        diesel::delete(throttle_events::table.filter(throttle_events::bucket.eq(bucket)))
            .execute(conn)?;
        Ok(())
    }

    pub fn purge_before(conn: &mut DbConnection, cutoff: NaiveDateTime) -> Result<usize, DbError> {
        Ok(
            diesel::delete(throttle_events::table.filter(throttle_events::at.lt(cutoff)))
                .execute(conn)?,
        )
    }
}
