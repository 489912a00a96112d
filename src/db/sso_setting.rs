//! `sso_settings`: one account's SSO policy (SPEC §3.4–§3.6). No row means SSO is off.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::sso_settings;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = sso_settings, treat_none_as_null = true)]
pub struct SsoSetting {
    pub account_id: String,
    pub enabled: bool,
    pub enforced: bool,
    /// `all` or `domains` (SPEC §3.5).
    pub enforcement_scope: String,
    pub allow_admin_password_login: bool,
    pub require_idp_mfa: bool,
    pub jit_enabled: bool,
    pub jit_default_role: String,
    /// JSON array of account ids.
    pub jit_accounts: String,
    pub entra_auth_context: Option<String>,
    pub enabled_at: Option<NaiveDateTime>,
    pub disabled_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

impl SsoSetting {
    pub fn find(conn: &mut DbConnection, account_id: &str) -> Result<Option<Self>, DbError> {
        Ok(sso_settings::table
            .find(account_id)
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    /// Inserts or replaces the account's row.
    pub fn save(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        super::changes::mark(super::changes::Topics::DIRECTORY);
        let updated = diesel::update(sso_settings::table.find(&self.account_id))
            .set(self)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(sso_settings::table)
                .values(self)
                .execute(conn)?;
        }
        Ok(())
    }

    /// The JIT account ids (an unreadable value grants nothing).
    pub fn jit_account_ids(&self) -> Vec<String> {
        serde_json::from_str(&self.jit_accounts).unwrap_or_default()
    }
}
