//! The authorization decision (SPEC §7.2 `/oauth2/authorize`, §3.8): validate the request, then,
//! with the browser's current session, either issue a code, answer an error to the client, or
//! send the browser to sign in and resume the stored request afterwards at
//! `/oauth2/authorize/continue?request=<id>` (the continuation contract with the login pages).
//!
//! # Security
//! A session is used for an account only when that account would admit its sign-in now
//! (SPEC §3.8); otherwise the user signs in through the account's own IdP. `prompt=login` and
//! `max_age` are satisfied only by a sign-in made after the request (a new broker session),
//! so a stale session cannot pass for a fresh one. An `id_token_hint` must carry our signature
//! (expiry does not matter); a session of another user than the hint's `sub` is not used: the
//! user signs in again (`login_required` with `prompt=none`).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use crate::auth::session::SignedIn;
use crate::crypto::tokens::{random_token, sha256_hex};
use crate::db::oidc_authorization_request::OidcAuthorizationRequest;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::trust::AccountAdmission;
use crate::domain::UserStatus;
use crate::oidc_provider::authorize_request::{
    self, AuthorizationRequest, AuthorizeError, AuthorizeParams, AuthorizeRefusal, ClientFacts,
    ReplyTo, UNKNOWN_CLIENT,
};
use crate::oidc_provider::claims::ID_TOKEN_TYP;
use crate::oidc_provider::discovery::paths;
use crate::services::provider::clients::{self, AuthenticatedClient};
use crate::services::provider::codes::{self, CodeGrant};
use crate::services::provider::presented_tokens::{self, Expiry};
use crate::services::trust;
use crate::services::ServiceError;
use crate::AppState;

/// How long a stored request waits for its sign-in.
pub const REQUEST_LIFETIME: Duration = Duration::minutes(10);
const REQUEST_ID_BYTES: usize = 32;

/// The browser's signed-in session, with its broker session id.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub signed_in: SignedIn,
    pub sid: String,
}

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    /// An error page; never a redirect (unknown client, unregistered `redirect_uri`, a stored
    /// request that expired).
    Page(&'static str),
    /// The answer for the client: a code or an error, `state` and `iss`.
    Reply {
        reply: ReplyTo,
        params: Vec<(&'static str, String)>,
    },
    /// The browser signs in at `location`, which returns to the stored request.
    SignIn { location: String },
}

pub const REQUEST_EXPIRED: &str =
    "This sign-in request has expired. Go back to the application and start again.";

/// A request waiting for a sign-in, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingRequest {
    request: AuthorizationRequest,
    /// Unix time the request was made.
    created_at: i64,
    /// The broker session the request met, if any: a fresh sign-in is another one.
    previous_sid: Option<String>,
    /// The `sub` of a verified `id_token_hint`: the user the client expects.
    #[serde(default)]
    hint_sub: Option<String>,
}

/// What an `id_token_hint` is read for.
#[derive(Deserialize)]
struct HintClaims {
    sub: String,
}

/// Where a stored request stands: its id and what was recorded with it.
struct Stored {
    id: String,
    pending: PendingRequest,
}

/// `GET|POST /oauth2/authorize`.
pub async fn authorize(
    state: &AppState,
    params: AuthorizeParams,
    session: Option<BrowserSession>,
) -> Result<AuthorizeOutcome, ServiceError> {
    let client_id = params.client_id.clone().unwrap_or_default();
    let client = state
        .db
        .run(move |conn| clients::find_registration(conn, &client_id))
        .await?;
    let Some(client) = client else {
        return Ok(AuthorizeOutcome::Page(UNKNOWN_CLIENT));
    };
    let facts = ClientFacts {
        client_type: client.client_type,
        redirect_uris: &client.redirect_uris,
    };
    let request = match authorize_request::validate(&params, facts) {
        Ok(request) => request,
        Err(AuthorizeRefusal::Page(text)) => return Ok(AuthorizeOutcome::Page(text)),
        Err(AuthorizeRefusal::Redirect(reply, error)) => {
            return Ok(reply_error(state, reply, &error))
        }
    };
    let hint_sub = match &request.id_token_hint {
        None => None,
        Some(hint) => match hinted_user(state, hint).await? {
            Some(sub) => Some(sub),
            None => {
                let error = AuthorizeError::new(
                    "invalid_request",
                    "id_token_hint is not an ID token of this provider",
                );
                return Ok(reply_error(state, request.reply_to(), &error));
            }
        },
    };
    let pending = PendingRequest {
        request,
        created_at: state.clock.now().timestamp(),
        previous_sid: session.as_ref().map(|s| s.sid.clone()),
        hint_sub,
    };
    decide(state, &client, pending, None, session).await
}

/// `GET /oauth2/authorize/continue?request=<id>`: the stored request, decided again with the
/// session the browser has now.
pub async fn resume(
    state: &AppState,
    id: String,
    session: Option<BrowserSession>,
) -> Result<AuthorizeOutcome, ServiceError> {
    let now = state.clock.now_naive();
    let hash = sha256_hex(&id);
    let found = state
        .db
        .run(move |conn| {
            let Some(row) = OidcAuthorizationRequest::find_live(conn, &hash, now)? else {
                return Ok::<_, ServiceError>(None);
            };
            let client = clients::find_registration(conn, &row.client_id)?;
            Ok(Some((row, client)))
        })
        .await?;
    let Some((row, client)) = found else {
        return Ok(AuthorizeOutcome::Page(REQUEST_EXPIRED));
    };
    let Some(client) = client else {
        return Ok(AuthorizeOutcome::Page(UNKNOWN_CLIENT));
    };
    let pending: PendingRequest =
        serde_json::from_str(&row.request).map_err(|e| ServiceError::Internal(e.into()))?;
    let stored = Stored { id, pending };
    decide(
        state,
        &client,
        stored.pending.clone(),
        Some(stored),
        session,
    )
    .await
}

/// What the session amounts to for the request.
enum Verdict {
    /// Issue a code for this account.
    Grant { account_id: String },
    /// Answer this error to the client.
    Refuse(AuthorizeError),
    /// Sign in first: on the password / SSO page, or through this account's own IdP.
    SignIn { account: Option<String> },
}

async fn decide(
    state: &AppState,
    client: &AuthenticatedClient,
    pending: PendingRequest,
    stored: Option<Stored>,
    session: Option<BrowserSession>,
) -> Result<AuthorizeOutcome, ServiceError> {
    let request = pending.request.clone();
    let verdict = match &session {
        None => Verdict::SignIn { account: None },
        Some(session) => judge(state, client, &pending, session).await?,
    };
    let stored_id = stored.as_ref().map(|s| s.id.clone());
    match (verdict, session) {
        (Verdict::SignIn { .. }, _) if request.prompt_none => {
            forget(state, stored_id).await?;
            let error = AuthorizeError::new("login_required", "the user must sign in");
            Ok(reply_error(state, request.reply_to(), &error))
        }
        (Verdict::SignIn { account }, _) => {
            let id = match stored_id {
                Some(id) => id,
                None => store(state, &pending).await?,
            };
            Ok(AuthorizeOutcome::SignIn {
                location: sign_in_location(&id, &request, account.as_deref()),
            })
        }
        (Verdict::Refuse(error), _) => {
            forget(state, stored_id).await?;
            Ok(reply_error(state, request.reply_to(), &error))
        }
        (Verdict::Grant { account_id }, Some(session)) => {
            let now = state.clock.now_naive();
            let code = state
                .db
                .run(move |conn| {
                    let grant = CodeGrant {
                        request: &request,
                        signed_in: &session.signed_in,
                        sid: &session.sid,
                        account_id: &account_id,
                    };
                    let code = codes::issue(conn, &grant, now)?;
                    if let Some(id) = stored_id {
                        OidcAuthorizationRequest::delete(conn, &sha256_hex(&id))?;
                    }
                    Ok::<_, ServiceError>(code)
                })
                .await?;
            let reply = pending.request.reply_to();
            let params = authorize_request::response_params(
                Ok(&code),
                reply.state.as_deref(),
                &state.settings.oidc_issuer(),
            );
            Ok(AuthorizeOutcome::Reply { reply, params })
        }
        (Verdict::Grant { .. }, None) => Err(ServiceError::Internal(anyhow::anyhow!(
            "a grant without a session"
        ))),
    }
}

/// Judges a signed-in session against the request (SPEC §7.2, §3.8).
async fn judge(
    state: &AppState,
    client: &AuthenticatedClient,
    pending: &PendingRequest,
    session: &BrowserSession,
) -> Result<Verdict, ServiceError> {
    let now = state.clock.now().timestamp();
    if !is_fresh_enough(pending, session, now) || !is_hinted_user(pending, session) {
        return Ok(Verdict::SignIn { account: None });
    }
    let signed_in = session.signed_in.clone();
    let wanted = pending.request.account.clone();
    let allowed: Vec<String> = client
        .accounts
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    state
        .db
        .run(move |conn| account_verdict(conn, &signed_in, wanted.as_deref(), &allowed))
        .await
}

/// `prompt=login` and `max_age`: whether the session's sign-in is recent enough. A sign-in
/// made for this request (another broker session, at or after the request) always is.
fn is_fresh_enough(pending: &PendingRequest, session: &BrowserSession, now: i64) -> bool {
    if signed_in_since(pending, session) {
        return true;
    }
    let auth_time = session.signed_in.authenticated_at;
    let request = &pending.request;
    !request.prompt_login && request.max_age.is_none_or(|max| now - auth_time <= max)
}

/// The `sub` of an `id_token_hint` we signed (expired or not); `None` when we did not sign it.
async fn hinted_user(state: &AppState, hint: &str) -> Result<Option<String>, ServiceError> {
    let claims =
        presented_tokens::verified::<HintClaims>(state, hint, ID_TOKEN_TYP, Expiry::Ignored)
            .await?;
    Ok(claims.map(|c| c.sub))
}

/// `id_token_hint`: the session is the hinted user's. A sign-in made for this request counts
/// whoever signed in: the user chose, and asking again would loop.
fn is_hinted_user(pending: &PendingRequest, session: &BrowserSession) -> bool {
    pending
        .hint_sub
        .as_deref()
        .is_none_or(|sub| sub == session.signed_in.user_id.as_str())
        || signed_in_since(pending, session)
}

/// Whether the session was signed in after the request (another broker session, at or after
/// the request's time).
fn signed_in_since(pending: &PendingRequest, session: &BrowserSession) -> bool {
    pending.previous_sid.as_deref() != Some(session.sid.as_str())
        && session.signed_in.authenticated_at >= pending.created_at
}

/// Which account the code is for, and whether the session may act in it.
fn account_verdict(
    conn: &mut DbConnection,
    signed_in: &SignedIn,
    wanted: Option<&str>,
    allowed: &[String],
) -> Result<Verdict, ServiceError> {
    let denied = |text: &str| Ok(Verdict::Refuse(AuthorizeError::new("access_denied", text)));
    let user = User::find(conn, signed_in.user_id.as_str())?
        .filter(|u| UserStatus::from_stored(&u.status) == UserStatus::Active);
    let Some(user) = user else {
        return Ok(Verdict::SignIn { account: None });
    };
    if !trust::still_admitted(conn, signed_in)? {
        return Ok(Verdict::SignIn { account: None });
    }
    let account = match wanted {
        Some(name) => match crate::services::admin::accounts::find_account(conn, name) {
            Ok(account) => account,
            Err(_) => return denied("the user is not a member of this account"),
        },
        None => match crate::db::account::Account::find(conn, signed_in.account_id.as_str())? {
            Some(account) => account,
            None => return Ok(Verdict::SignIn { account: None }),
        },
    };
    if trust::role_in(conn, &user.id, &account.id)?.is_none() {
        if wanted.is_none() {
            // The active account's membership was removed: the session no longer stands.
            return Ok(Verdict::SignIn { account: None });
        }
        return denied("the user is not a member of this account");
    }
    if !allowed.is_empty() {
        let mut within = false;
        for root in allowed {
            within = within || trust::account_within(conn, &account.id, root)?;
        }
        if !within {
            return denied("this application is not available to this account");
        }
    }
    match trust::account_admits(conn, signed_in, &user, &account.id)? {
        AccountAdmission::Admitted => Ok(Verdict::Grant {
            account_id: account.id,
        }),
        AccountAdmission::NeedsOwnSso | AccountAdmission::IdpMfaMissing => Ok(Verdict::SignIn {
            account: Some(account.name),
        }),
    }
}

/// Stores the request; returns its id (the only time it exists in clear).
async fn store(state: &AppState, pending: &PendingRequest) -> Result<String, ServiceError> {
    let id = random_token(REQUEST_ID_BYTES);
    let now = state.clock.now_naive();
    let row = OidcAuthorizationRequest {
        id_hash: sha256_hex(&id),
        client_id: pending.request.client_id.clone(),
        request: serde_json::to_string(pending).map_err(|e| ServiceError::Internal(e.into()))?,
        created_at: now,
        expires_at: now + REQUEST_LIFETIME,
    };
    state
        .db
        .run(move |conn| Ok::<_, ServiceError>(row.insert(conn)?))
        .await?;
    Ok(id)
}

/// Deletes a stored request that has been answered.
async fn forget(state: &AppState, id: Option<String>) -> Result<(), ServiceError> {
    let Some(id) = id else { return Ok(()) };
    state
        .db
        .run(move |conn| {
            Ok::<_, ServiceError>(OidcAuthorizationRequest::delete(conn, &sha256_hex(&id))?)
        })
        .await
}

/// The login page that resumes request `id`: `/login` (with `username` from `login_hint`), or
/// `/login/sso` for the account whose own IdP must admit the user.
fn sign_in_location(id: &str, request: &AuthorizationRequest, account: Option<&str>) -> String {
    let return_to = format!("{}?request={id}", paths::AUTHORIZE_CONTINUE);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    let path = match account {
        Some(account) => {
            query.append_pair("account", account);
            if let Some(hint) = &request.login_hint {
                query.append_pair("email", hint);
            }
            "/login/sso"
        }
        None => {
            if let Some(hint) = &request.login_hint {
                query.append_pair("username", hint);
            }
            "/login"
        }
    };
    query.append_pair("return_to", &return_to);
    format!("{path}?{}", query.finish())
}

fn reply_error(state: &AppState, reply: ReplyTo, error: &AuthorizeError) -> AuthorizeOutcome {
    let params = authorize_request::response_params(
        Err(error),
        reply.state.as_deref(),
        &state.settings.oidc_issuer(),
    );
    AuthorizeOutcome::Reply { reply, params }
}
