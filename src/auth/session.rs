//! The typed view of a browser session (SPEC §3.7): who is signed in, how, and since when;
//! the pending second step of a password sign-in. Idle timeout and absolute lifetime are
//! checked here against an explicit `now` (actix-session has no absolute lifetime).

use actix_session::Session;
use chrono::{DateTime, Duration, Utc};

use super::session_store::{AUTH_ENTRY, EXPIRED_MARKER, SID_ENTRY};
use crate::crypto::tokens::random_token;
use crate::domain::{AccountId, AuthMethod, IdpKind, MfaEvidence, UserId};

const PENDING_ENTRY: &str = "pending_second_factor";
/// The OTP page must be completed within this time after the password step.
pub const SECOND_FACTOR_WINDOW: Duration = Duration::minutes(5);
/// `last_seen_at` is rewritten at most this often (one session write a minute, not per request).
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// A completed sign-in, stored in the session.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SignedIn {
    pub user_id: UserId,
    /// The active account (switchable among memberships).
    pub account_id: AccountId,
    pub auth_method: AuthMethod,
    /// The kind of IdP of an SSO sign-in.
    pub idp: Option<IdpKind>,
    pub amr: Vec<String>,
    /// What the sign-in proved about MFA (SPEC §6.4): TOTP or the IdP's evidence.
    pub mfa: MfaEvidence,
    pub authenticated_at: i64,
    pub last_seen_at: i64,
    /// Unix time the session must end by whatever the policy says (SAML `SessionNotOnOrAfter`).
    #[serde(default)]
    pub not_after: Option<i64>,
    /// The IdP connection an SSO sign-in came through (SPEC §3.8: which accounts the session may
    /// act in; it ends when the connection is deleted).
    #[serde(default)]
    pub connection_id: Option<String>,
    /// The approved Entra tenant an Entra sign-in came from (it ends when the tenant is revoked).
    #[serde(default)]
    pub tenant_id: Option<String>,
}

/// A password step that still needs its TOTP or recovery code.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PendingSecondFactor {
    pub user_id: String,
    pub started_at: i64,
    pub return_to: Option<String>,
}

/// Session limits (SPEC §3.7; configurable).
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
    pub lifetime: Duration,
}

/// What the current request's session amounts to.
// One short-lived value per request: boxing the sign-in would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SessionView {
    Anonymous,
    /// There was a sign-in, but it expired or was revoked: show SPEC's expiry message.
    Expired,
    SignedIn(SignedIn),
}

impl SessionPolicy {
    /// Reads the session at `now`. Does not modify it.
    pub fn view(&self, session: &Session, now: DateTime<Utc>) -> SessionView {
        if session.contains_key(EXPIRED_MARKER) {
            return SessionView::Expired;
        }
        let Ok(Some(auth)) = session.get::<SignedIn>(AUTH_ENTRY) else {
            return SessionView::Anonymous;
        };
        if self.is_live(&auth, now) {
            SessionView::SignedIn(auth)
        } else {
            SessionView::Expired
        }
    }

    /// Whether a sign-in is within its idle timeout and absolute lifetime at `now`.
    pub fn is_live(&self, auth: &SignedIn, now: DateTime<Utc>) -> bool {
        let now = now.timestamp();
        let too_old = now - auth.authenticated_at >= self.lifetime.num_seconds()
            || auth.not_after.is_some_and(|t| now >= t);
        let idle = now - auth.last_seen_at >= self.idle_timeout.num_seconds();
        !(too_old || idle)
    }
}

/// Bytes of randomness in a broker session id.
const SID_BYTES: usize = 24;

/// The broker session id (SPEC §7.3 `sid`) of a signed-in session, made now if the session
/// predates session ids. Random, never derived from the cookie's key, and kept when the key
/// is renewed (account switch), so every token of one sign-in names the same session.
pub fn session_id(session: &Session) -> Result<String, actix_session::SessionInsertError> {
    if let Ok(Some(sid)) = session.get::<String>(SID_ENTRY) {
        return Ok(sid);
    }
    let sid = random_token(SID_BYTES);
    session.insert(SID_ENTRY, &sid)?;
    Ok(sid)
}

/// The sign-in recorded in a stored session state (as `BrokerSessionStore` returns it).
pub fn signed_in_of(state: &std::collections::HashMap<String, String>) -> Option<SignedIn> {
    serde_json::from_str(state.get(AUTH_ENTRY)?).ok()
}

/// Records a completed sign-in under a fresh session key (session fixation defence) and a
/// fresh broker session id: a new sign-in is a new broker session (SPEC §7.3 `sid`).
pub fn sign_in(
    session: &Session,
    signed_in: &SignedIn,
) -> Result<(), actix_session::SessionInsertError> {
    session.renew();
    session.remove(PENDING_ENTRY);
    session.remove(EXPIRED_MARKER);
    session.insert(SID_ENTRY, random_token(SID_BYTES))?;
    session.insert(AUTH_ENTRY, signed_in)
}

/// Keeps a signed-in session going under a fresh session key after the store dropped the
/// user's sessions (a password change ends the others): the same broker session, so its `sid`
/// and the OpenID Provider grants made in it stay.
pub fn keep_after_password_change(
    session: &Session,
    signed_in: &SignedIn,
) -> Result<(), actix_session::SessionInsertError> {
    session.renew();
    session.insert(AUTH_ENTRY, signed_in)
}

/// Makes `account_id` the active account of a signed-in session (same sign-in, fresh id).
pub fn switch_account(
    session: &Session,
    signed_in: &SignedIn,
    account_id: &str,
) -> Result<(), actix_session::SessionInsertError> {
    let mut switched = signed_in.clone();
    switched.account_id = AccountId::from_stored(account_id.to_string());
    session.renew();
    session.insert(AUTH_ENTRY, &switched)
}

/// Moves the session to "password accepted, second factor pending" under a fresh id.
pub fn begin_second_factor(
    session: &Session,
    pending: &PendingSecondFactor,
) -> Result<(), actix_session::SessionInsertError> {
    session.renew();
    session.remove(AUTH_ENTRY);
    session.remove(SID_ENTRY);
    session.remove(EXPIRED_MARKER);
    session.insert(PENDING_ENTRY, pending)
}

/// The pending second step, if it is still within its window at `now`.
pub fn pending_second_factor(session: &Session, now: DateTime<Utc>) -> Option<PendingSecondFactor> {
    let pending = session
        .get::<PendingSecondFactor>(PENDING_ENTRY)
        .ok()
        .flatten()?;
    (now.timestamp() - pending.started_at < SECOND_FACTOR_WINDOW.num_seconds()).then_some(pending)
}

/// True when the session holds an expired pending step (to show the expiry message).
pub fn has_pending_second_factor(session: &Session) -> bool {
    session.contains_key(PENDING_ENTRY)
}

/// Notes activity at `now` (idle timeout), writing at most once a minute.
pub fn touch(session: &Session, signed_in: &SignedIn, now: DateTime<Utc>) {
    if now.timestamp() - signed_in.last_seen_at >= TOUCH_EVERY.num_seconds() {
        let mut updated = signed_in.clone();
        updated.last_seen_at = now.timestamp();
        let _ = session.insert(AUTH_ENTRY, updated);
    }
}
