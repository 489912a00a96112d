//! What every SSO attempt ends in, whatever the protocol: the refusal the user reads, the sign-in
//! it leads to, the callback's outcome, and the audit line of an attempt. A leaf: the flows
//! (`start`, `entra`, `saml`) and admin consent depend on it, never the other way round.

use crate::auth::session::SignedIn;
use crate::auth::throttle;
use crate::db::DbConnection;
use crate::domain::messages;
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;
use secrecy::SecretString;

/// Why an SSO attempt ends without a sign-in. `Display` is the exact text the user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoRefusal {
    #[error("{}", messages::SSO_NOT_CONFIGURED)]
    NotConfigured,
    #[error("Enter a valid email address.")]
    InvalidEmail,
    #[error("{}", messages::EMAIL_NOT_CONFIGURED)]
    EmailNotConfigured,
    #[error("{}", messages::MULTIPLE_USERNAMES)]
    MultipleUsernames,
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    IncorrectCredentials,
    #[error("{}", messages::IDP_UNREACHABLE)]
    IdpUnreachable,
    #[error("{}", messages::SESSION_EXPIRED)]
    FlowExpired,
    #[error("{}", messages::THROTTLED)]
    Throttled,
    /// The account requires IdP MFA and the IdP gave no positive evidence (SPEC §3.6).
    #[error("{}", messages::IDP_MFA_MISSING)]
    IdpMfaMissing,
    /// The IdP answered with an error; the text is ours, chosen by its code.
    #[error("{0}")]
    IdpError(&'static str),
}

/// What a successful callback leads to.
#[derive(Debug)]
pub struct SsoSignIn {
    pub signed_in: SignedIn,
    pub return_to: Option<String>,
}

/// What a callback leads to.
// One short-lived value per callback: boxing the sign-in would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CallbackOutcome {
    SignedIn(SsoSignIn),
    /// The admin's sign-in of SPEC §3.3 step 1 succeeded: on to the tenant's consent page.
    ConsentRedirect {
        url: String,
        state: SecretString,
    },
    Refused(SsoRefusal),
}

/// The callback's query.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A friendly text for an IdP error response (the raw description goes to the log only).
pub fn idp_error_text(error: &str, description: &str) -> &'static str {
    let code = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.starts_with("AADSTS"))
        .unwrap_or_default();
    match (error, code) {
        (_, "AADSTS65004") | ("access_denied", "") => "Sign-in was cancelled. You can try again.",
        (_, "AADSTS50105") => "Your organization has not given you access to this application. Ask your IT admin to assign it to you.",
        (_, "AADSTS65001") | (_, "AADSTS90094") => "Your organization's admin has not approved this application yet.",
        (_, "AADSTS53003") => "Your organization's access policy blocked this sign-in. Contact your IT admin.",
        (_, "AADSTS50076") | (_, "AADSTS50079") => "Your organization requires multi-factor authentication. Please try again and complete it.",
        _ => "Your identity provider could not sign you in. Please try again, or contact your IT admin.",
    }
}

/// The audit reason for an IdP error response: `idp_error:` and the IdP's `error` code, cut to
/// 40 characters of `[A-Za-z0-9_.-]`, so attacker-chosen text never reaches an audit event or a
/// log line as it came.
pub fn idp_error_reason(error: &str) -> String {
    let code: String = error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(40)
        .collect();
    format!("idp_error:{code}")
}

pub fn audit_attempt(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: chrono::NaiveDateTime,
    actor: &str,
    account_id: Option<&str>,
    outcome: Outcome,
    reason: &str,
) -> Result<(), ServiceError> {
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor: actor.to_string(),
            account_id,
            action: "login.sso",
            outcome,
            reason: Some(reason),
        },
    )?;
    Ok(())
}

/// Records a refused SSO attempt the same way for every protocol: the log line, the audit event,
/// a failure in the client address's SSO budget (refused responses each cost a signature check;
/// `/login/sso` refuses a throttled address before any new flow) and the sign-in metric.
pub(crate) async fn record_refusal(
    state: &AppState,
    meta: &RequestMeta,
    actor: &str,
    account_id: &str,
    reason: &str,
) -> Result<(), ServiceError> {
    log::info!(
        "request_id={} SSO sign-in refused: {}",
        meta.request_id,
        reason.escape_debug()
    );
    audit_failure(state, meta, actor, account_id, reason).await?;
    if let Some(bucket) = meta.ip.as_deref().map(throttle::sso_ip_bucket) {
        let now = state.clock.now_naive();
        state
            .db
            .run(move |conn| throttle::record_failure(conn, &bucket, now))
            .await?;
    }
    state.metrics.sign_in("sso", "failure");
    Ok(())
}

/// Records a failed SSO attempt from async code.
pub(crate) async fn audit_failure(
    state: &AppState,
    meta: &RequestMeta,
    actor: &str,
    account_id: &str,
    reason: &str,
) -> Result<(), ServiceError> {
    let (meta, actor, account_id, reason) = (
        meta.clone(),
        actor.to_string(),
        account_id.to_string(),
        reason.to_string(),
    );
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            audit_attempt(
                conn,
                &meta,
                now,
                &actor,
                Some(&account_id),
                Outcome::Failure,
                &reason,
            )
        })
        .await
}

#[cfg(test)]
mod idp_error_tests {
    #[test]
    fn an_idp_error_reason_keeps_only_code_characters() {
        assert_eq!(
            super::idp_error_reason("access_denied"),
            "idp_error:access_denied"
        );
        assert_eq!(
            super::idp_error_reason("x\nrequest_id=forged <b>"),
            "idp_error:xrequest_idforgedb"
        );
        assert_eq!(super::idp_error_reason(&"a".repeat(100)).len(), 50);
    }
}
