//! The first step of "Log in with SSO" (SPEC §3.2 step 1): does this account have a usable
//! identity-provider connection? Connections arrive with the Entra and SAML adapters; until an
//! account has one, every attempt ends with SPEC's "not configured" message.

use super::audit::{self, Audit, Outcome, RequestMeta};
use super::ServiceError;
use crate::db::account::Account;
use crate::domain::{messages, AccountName, Email};
use crate::AppState;

/// Why an SSO attempt cannot start, with SPEC's exact message as `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoRefusal {
    #[error("{}", messages::SSO_NOT_CONFIGURED)]
    NotConfigured,
    #[error("Enter a valid email address.")]
    InvalidEmail,
}

/// Checks an attempt. Returns the refusal to show; audited either way.
pub async fn begin(
    state: &AppState,
    account: String,
    email: String,
    meta: RequestMeta,
) -> Result<SsoRefusal, ServiceError> {
    let Ok(email) = Email::parse(&email) else {
        return Ok(SsoRefusal::InvalidEmail);
    };
    let name = AccountName::parse(&account).ok();
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            let account = match &name {
                Some(n) => Account::find_by_name(conn, n.as_str())?,
                None => None,
            };
            // No account has an IdP connection yet (SPEC §3.2 step 1: none → not configured).
            let reason = if account.is_some() {
                "no_connection"
            } else {
                "unknown_account"
            };
            audit::record(
                conn,
                &meta,
                now,
                Audit {
                    actor: format!("anonymous:{}", email.as_str()),
                    account_id: account.as_ref().map(|a| a.id.as_str()),
                    action: "login.sso",
                    outcome: Outcome::Failure,
                    reason: Some(reason),
                },
            )?;
            Ok(SsoRefusal::NotConfigured)
        })
        .await
}
