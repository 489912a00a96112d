//! `identity_links`: (issuer, subject) bound to a user after the first SSO sign-in. Later
//! sign-ins match on the link, not on email (SPEC §2).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::identity_links;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = identity_links)]
pub struct IdentityLink {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub issuer: String,
    pub subject: String,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

impl IdentityLink {
    /// Makes the link. It marks no cache topic: no cache holds identity links or anything read
    /// from them (profiles, approvals, validated tokens, sign-in trust), and marking DIRECTORY
    /// here dropped every directory cache on every instance at each first SSO sign-in.
    pub fn insert(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        diesel::insert_into(identity_links::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }

    pub fn find(
        conn: &mut DbConnection,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Self>, DbError> {
        Ok(identity_links::table
            .filter(identity_links::issuer.eq(issuer))
            .filter(identity_links::subject.eq(subject))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// The user's links (at most one per issuer).
    pub fn list_for_user(conn: &mut DbConnection, user_id: &str) -> Result<Vec<Self>, DbError> {
        Ok(identity_links::table
            .filter(identity_links::user_id.eq(user_id))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// The user's link to `issuer`, if any (a user has at most one identity per issuer).
    pub fn find_for_user_issuer(
        conn: &mut DbConnection,
        user_id: &str,
        issuer: &str,
    ) -> Result<Option<Self>, DbError> {
        Ok(identity_links::table
            .filter(identity_links::user_id.eq(user_id))
            .filter(identity_links::issuer.eq(issuer))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Whether the user has at least one identity link (signed in with SSO before).
    pub fn exists_for_user(conn: &mut DbConnection, user_id: &str) -> Result<bool, DbError> {
        let n: i64 = identity_links::table
            .filter(identity_links::user_id.eq(user_id))
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    }

    pub fn touch(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<(), DbError> {
        diesel::update(identity_links::table.find(id))
            .set(identity_links::last_used_at.eq(now))
            .execute(conn)?;
        Ok(())
    }

    /// Deletes the links of the SAML connection `connection_id` (issuers `saml:<id>:<entityID>`);
    /// returns how many.
    pub fn delete_for_saml_connection(
        conn: &mut DbConnection,
        connection_id: &str,
    ) -> Result<usize, DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        // The id is a UUID: no LIKE wildcard in it.
        let pattern = format!("saml:{connection_id}:%");
        Ok(
            diesel::delete(identity_links::table.filter(identity_links::issuer.like(pattern)))
                .execute(conn)?,
        )
    }
}
