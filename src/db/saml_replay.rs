//! `saml_replays`: SAML assertion ids already consumed at the ACS (SPEC §5), shared by every
//! instance, kept until the assertion could no longer be accepted anyway.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::saml_replays;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = saml_replays)]
pub struct SamlReplay {
    /// SHA-256 (hex) of the IdP entityID and the assertion id.
    pub assertion_key: String,
    pub expires_at: NaiveDateTime,
}

impl SamlReplay {
    /// Records a first use. `Ok(false)` when the key was recorded before and is still live:
    /// the assertion is a replay. The primary key makes two concurrent uses succeed at most once.
    pub fn record_first_use(
        conn: &mut DbConnection,
        assertion_key: &str,
        expires_at: NaiveDateTime,
        now: NaiveDateTime,
    ) -> Result<bool, DbError> {
        diesel::delete(saml_replays::table.filter(saml_replays::expires_at.lt(now)))
            .execute(conn)?;
        let row = Self {
            assertion_key: assertion_key.to_string(),
            expires_at,
        };
        match diesel::insert_into(saml_replays::table)
            .values(&row)
            .execute(conn)
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = DbError::from(e);
                if e.is_unique_violation() {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}
