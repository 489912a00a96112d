//! Back-Channel Logout 1.0 (SPEC §7.2): when a broker session ends — RP-initiated logout,
//! `POST /logout`, an operator's or admin's revocation, a user disabled or removed, or expiry
//! noticed by the purge job — its refresh families without `offline_access` end, and every
//! client with a `backchannel_logout_uri` that holds tokens from the session is queued a
//! `logout_token`. A background worker delivers the queue with bounded retries and backoff.
//!
//! It must never delay the user: a session's end only writes to the queue and wakes the
//! worker; the HTTP requests run in the worker, each with a timeout.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDateTime};
use tokio::sync::Notify;

use crate::crypto::tokens::random_token;
use crate::db::oidc_backchannel_logout::OidcBackchannelLogout as Delivery;
use crate::db::oidc_client::OidcClient;
use crate::db::oidc_refresh_family::OidcRefreshFamily;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::oidc_provider::logout::{logout_token_claims, LOGOUT_TOKEN_TYP};
use crate::services::provider::refresh::broker_session_lives;
use crate::services::provider::signing_keys;
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

/// Attempts per delivery before it is given up.
pub const MAX_ATTEMPTS: i32 = 6;
/// Wait after the first failed attempt; doubled after each further one.
const FIRST_RETRY: Duration = Duration::seconds(30);
/// How long a claimed delivery stays with the instance that claimed it.
const CLAIM: Duration = Duration::minutes(5);
/// Timeout of one delivery request.
const REQUEST_TIMEOUT: StdDuration = StdDuration::from_secs(5);
/// The worker looks at the queue at least this often (retries fall due without a wake-up).
const POLL: StdDuration = StdDuration::from_secs(10);
/// Deliveries one pass takes on.
const BATCH: i64 = 20;

/// What ends a broker session, as the queue and the audit name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// `/oauth2/logout` or `POST /logout`.
    Logout,
    /// An operator or admin revoked the user's sessions, or disabled or removed the user.
    Revoked,
    /// Idle timeout or absolute lifetime, noticed by the purge job.
    Expired,
}

impl SessionEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "session_revoked",
            Self::Expired => "session_expired",
        }
    }
}

/// The HTTP client and wake-up of this instance's delivery worker.
#[derive(Clone)]
pub struct BackchannelWorker {
    http: reqwest::Client,
    wake: Arc<Notify>,
}

impl BackchannelWorker {
    pub fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            // A redirect is not a delivery (Back-Channel Logout 1.0 §2.8 wants a 200).
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Asks the worker to look at the queue now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// The broker session `sid` of `user_id` ended: its families without `offline_access` end and
/// every client holding tokens from it is queued a logout token. Returns how many were queued.
pub async fn session_ended(
    state: &AppState,
    user_id: &str,
    sid: &str,
    end: SessionEnd,
) -> Result<usize, ServiceError> {
    let (user_id, sid) = (user_id.to_string(), sid.to_string());
    let now = state.clock.now_naive();
    let queued = state
        .db
        .run(move |conn| end_session(conn, &user_id, &sid, end, now))
        .await?;
    if queued > 0 {
        state.backchannel.wake();
    }
    Ok(queued)
}

/// Every session of `user_id` ended (revoked, user disabled or removed): as `session_ended`
/// for each session that still has live tokens.
pub async fn user_sessions_ended(
    state: &AppState,
    user_id: &str,
    end: SessionEnd,
) -> Result<usize, ServiceError> {
    let user_id = user_id.to_string();
    let now = state.clock.now_naive();
    let queued = state
        .db
        .run(move |conn| {
            let mut queued = 0;
            for sid in OidcRefreshFamily::live_sids_of_user(conn, &user_id)? {
                queued += end_session(conn, &user_id, &sid, end, now)?;
            }
            Ok::<_, ServiceError>(queued)
        })
        .await?;
    if queued > 0 {
        state.backchannel.wake();
    }
    Ok(queued)
}

/// The purge job's part: every session with live tokens whose broker session is gone
/// (expired, or ended where no trigger above saw it) is ended here — those lacking
/// `offline_access` lose their tokens, and clients holding only offline tokens of the session
/// are told once all the same (their sign-in ended; their tokens live on).
pub async fn end_expired_sessions(state: &AppState) -> Result<usize, ServiceError> {
    let now = state.clock.now_naive();
    let sessions = state
        .db
        .run(move |conn| {
            let mut sessions = OidcRefreshFamily::live_online_sessions(conn)?;
            sessions.extend(OidcRefreshFamily::unannounced_offline_sessions(conn, now)?);
            sessions.sort();
            sessions.dedup();
            Ok::<_, ServiceError>(sessions)
        })
        .await?;
    let mut queued = 0;
    for (user_id, sid) in sessions {
        if !broker_session_lives(state, &user_id, &sid).await? {
            queued += session_ended(state, &user_id, &sid, SessionEnd::Expired).await?;
        }
    }
    Ok(queued)
}

fn end_session(
    conn: &mut DbConnection,
    user_id: &str,
    sid: &str,
    end: SessionEnd,
    now: NaiveDateTime,
) -> Result<usize, ServiceError> {
    let families = crate::db::transaction(conn, |conn| {
        OidcRefreshFamily::revoke_online_for_session(conn, user_id, sid, now, end.as_str())?;
        Ok::<_, ServiceError>(OidcRefreshFamily::for_session(conn, user_id, sid)?)
    })?;
    let mut clients: Vec<String> = families.into_iter().map(|f| f.client_id).collect();
    clients.sort();
    clients.dedup();
    let mut queued = 0;
    for client_id in clients {
        let Some(uri) = OidcClient::find(conn, &client_id)?.and_then(|c| c.backchannel_logout_uri)
        else {
            continue;
        };
        // Outside the transaction: a duplicate (the session ended twice) is simply skipped.
        if Delivery::new(&client_id, user_id, sid, &uri, end.as_str(), now).insert_once(conn)? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Runs the delivery loop: on every wake-up and at least every `POLL`.
pub fn spawn_worker(state: AppState) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = deliver_due(&state).await {
                log::warn!("back-channel logout delivery failed: {e}");
            }
            let _ = tokio::time::timeout(POLL, state.backchannel.wake.notified()).await;
        }
    });
}

/// Delivers what is due at the broker's clock; returns how many were delivered.
pub async fn deliver_due(state: &AppState) -> Result<usize, ServiceError> {
    let now = state.clock.now_naive();
    let due = state
        .db
        .run(move |conn| Ok::<_, ServiceError>(Delivery::due(conn, now, BATCH)?))
        .await?;
    let mut delivered = 0;
    for row in due {
        let claimed = {
            let row = row.clone();
            state
                .db
                .run(move |conn| Ok::<_, ServiceError>(Delivery::claim(conn, &row, now + CLAIM)?))
                .await?
        };
        if claimed && deliver(state, &row).await? {
            delivered += 1;
        }
    }
    Ok(delivered)
}

/// One attempt: signs a fresh logout token, posts it, records the outcome.
async fn deliver(state: &AppState, row: &Delivery) -> Result<bool, ServiceError> {
    let result = post_logout_token(state, row).await;
    let now = state.clock.now_naive();
    let attempt = row.attempts + 1;
    let (id, client_id) = (row.id.clone(), row.client_id.clone());
    let user_id = row.user_id.clone();
    let ok = result.is_ok();
    let text = match &result {
        Ok(()) => format!("client_id={client_id} attempt={attempt}"),
        Err(e) if attempt >= MAX_ATTEMPTS => {
            format!("client_id={client_id} attempt={attempt} given up: {e}")
        }
        Err(e) => format!("client_id={client_id} attempt={attempt} will retry: {e}"),
    };
    if let Err(e) = &result {
        log::warn!("back-channel logout to client {client_id} failed: {e}");
    }
    let retry_at = (attempt < MAX_ATTEMPTS).then(|| now + retry_after(attempt));
    state
        .db
        .run(move |conn| {
            match &result {
                Ok(()) => Delivery::mark_delivered(conn, &id, now)?,
                Err(e) => Delivery::mark_failed(conn, &id, e, now, retry_at)?,
            }
            let account = User::find(conn, &user_id)?.map(|u| u.home_account_id);
            audit::record(
                conn,
                &RequestMeta::cli(),
                now,
                Audit {
                    actor: "system".to_string(),
                    account_id: account.as_deref(),
                    action: "oidc.backchannel_logout",
                    outcome: if ok {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    },
                    reason: Some(&text),
                },
            )?;
            Ok::<_, ServiceError>(())
        })
        .await?;
    Ok(ok)
}

/// The wait before the attempt after failed attempt `attempt` (1-based): 30 s, doubling.
fn retry_after(attempt: i32) -> Duration {
    FIRST_RETRY * 2i32.pow(attempt.clamp(1, 16) as u32 - 1)
}

/// Posts the logout token; the error is the text for the queue and the audit (never a secret).
async fn post_logout_token(state: &AppState, row: &Delivery) -> Result<(), String> {
    let claims = logout_token_claims(
        &state.settings.oidc_issuer(),
        &row.client_id,
        &row.user_id,
        &row.sid,
        &random_token(16),
        state.clock.now().timestamp(),
    );
    let token = signing_keys::sign(state, LOGOUT_TOKEN_TYP, &claims)
        .await
        .map_err(|e| format!("cannot sign: {e}"))?;
    let response = state
        .backchannel
        .http
        .post(&row.logout_uri)
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
        .map_err(|e| format!("request failed: {}", without_url(&e)))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status().as_u16()))
    }
}

/// A reqwest error without the URL it carries (the kind of failure is enough).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "transport error".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially() {
        assert_eq!(retry_after(1), Duration::seconds(30));
        assert_eq!(retry_after(2), Duration::seconds(60));
        assert_eq!(retry_after(5), Duration::seconds(480));
    }
}
