//! `GET|POST /oauth2/logout`, RP-Initiated Logout 1.0 (SPEC §7.2, §7.3): which requests may
//! redirect, when the user must confirm, and logging a broker session out (it ends the
//! session's grants without `offline_access` and triggers back-channel logout).
//!
//! # Security
//! A logout request is a cross-site GET any page can make: without an `id_token_hint` we
//! signed for the current session the user confirms on a page with a CSRF-checked form (no
//! silent logout by a third party). `post_logout_redirect_uri` is an exact registered string
//! of the client the hint or `client_id` names, and a hint we did not sign is refused: the
//! endpoint is never an open redirector.

use crate::db::DbConnection;
use crate::oidc_provider::authorize_request::redirect_with;
use crate::oidc_provider::logout::{verify_id_token_hint, IdTokenHint};
use crate::services::provider::backchannel::{self, SessionEnd};
use crate::services::provider::clients::{find_registration, AuthenticatedClient};
use crate::services::provider::signing_keys;
use crate::services::sign_in::password::record_logout;
use crate::services::support::audit::RequestMeta;
use crate::services::ServiceError;
use crate::AppState;

/// Texts of the refusals (shown on the error page; the request never redirects).
pub const HINT_NOT_OURS: &str =
    "The id_token_hint of this sign-out request was not issued by this sign-in service.";
pub const UNKNOWN_CLIENT: &str = "The application that sent this sign-out request is not known.";
pub const CLIENT_MISMATCH: &str =
    "The client_id of this sign-out request does not match its id_token_hint.";
pub const UNREGISTERED_REDIRECT: &str =
    "The post_logout_redirect_uri of this sign-out request is not registered for the application.";
pub const REDIRECT_WITHOUT_CLIENT: &str =
    "A post_logout_redirect_uri needs an id_token_hint or a client_id.";

/// The request's parameters (query or form body); unknown ones are ignored. `confirm` and
/// `csrf_token` come only from the confirmation form.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
    pub confirm: Option<String>,
    pub csrf_token: Option<String>,
}

/// The browser's signed-in broker session.
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub user_id: String,
    pub sid: String,
}

/// A request whose parameters passed the checks.
#[derive(Debug, Clone, Default)]
pub struct CheckedLogout {
    pub client_id: Option<String>,
    pub client_name: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    hint: Option<IdTokenHint>,
}

impl CheckedLogout {
    /// Where the browser goes once signed out: the registered URI with `state`, if any.
    pub fn after_logout(&self) -> Option<String> {
        let uri = self.post_logout_redirect_uri.as_deref()?;
        Some(match &self.state {
            Some(state) => redirect_with(uri, &[("state", state.clone())]),
            None => uri.to_string(),
        })
    }

    /// True when the hint names the current session (logout needs no click, SPEC §7.3).
    fn hint_names(&self, current: &CurrentSession) -> bool {
        self.hint
            .as_ref()
            .is_some_and(|h| h.sid == current.sid && h.sub == current.user_id)
    }
}

/// What to do with a logout request.
#[derive(Debug)]
pub enum LogoutDecision {
    /// An error page with this text; never a redirect.
    Refused(&'static str),
    /// Ask the user first.
    Confirm(CheckedLogout),
    /// Log the current session out (`log_out`), then go on.
    LogOut(CheckedLogout),
    /// Nobody is signed in: go on.
    SignedOut(CheckedLogout),
}

/// Decides a logout request. `current` is the browser's signed-in session; `confirmed` is true
/// for the confirmation form whose CSRF token the caller verified.
pub async fn decide(
    state: &AppState,
    params: LogoutParams,
    current: Option<&CurrentSession>,
    confirmed: bool,
) -> Result<LogoutDecision, ServiceError> {
    let checked = match check(state, params).await? {
        Ok(checked) => checked,
        Err(text) => return Ok(LogoutDecision::Refused(text)),
    };
    Ok(match current {
        None => LogoutDecision::SignedOut(checked),
        Some(c) if confirmed || checked.hint_names(c) => LogoutDecision::LogOut(checked),
        Some(_) => LogoutDecision::Confirm(checked),
    })
}

/// Verifies the hint, finds the client and matches the redirect URI.
async fn check(
    state: &AppState,
    params: LogoutParams,
) -> Result<Result<CheckedLogout, &'static str>, ServiceError> {
    let hint = match params.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        None => None,
        Some(token) => {
            let keys = signing_keys::jwks(state).await?;
            match verify_id_token_hint(token, &keys, &state.settings.oidc_issuer()) {
                Ok(hint) => Some(hint),
                Err(_) => return Ok(Err(HINT_NOT_OURS)),
            }
        }
    };
    let client_id = match (params.client_id.filter(|c| !c.is_empty()), &hint) {
        (Some(id), Some(h)) if id != h.aud => return Ok(Err(CLIENT_MISMATCH)),
        (Some(id), _) => Some(id),
        (None, Some(h)) => Some(h.aud.clone()),
        (None, None) => None,
    };
    let lookup = client_id.clone();
    let client = state
        .db
        .run(move |conn: &mut DbConnection| match lookup {
            Some(id) => find_registration(conn, &id),
            None => Ok(None),
        })
        .await?;
    if client_id.is_some() && client.is_none() {
        return Ok(Err(UNKNOWN_CLIENT));
    }
    let redirect = params.post_logout_redirect_uri.filter(|u| !u.is_empty());
    if let Some(uri) = &redirect {
        match &client {
            None => return Ok(Err(REDIRECT_WITHOUT_CLIENT)),
            Some(c) if !is_registered(c, uri) => return Ok(Err(UNREGISTERED_REDIRECT)),
            Some(_) => {}
        }
    }
    Ok(Ok(CheckedLogout {
        client_id,
        client_name: client.map(|c| c.name),
        post_logout_redirect_uri: redirect,
        state: params.state.filter(|s| !s.is_empty()),
        hint,
    }))
}

/// Exact string comparison (SPEC §7.1), as for redirect URIs.
fn is_registered(client: &AuthenticatedClient, uri: &str) -> bool {
    client.post_logout_redirect_uris.iter().any(|u| u == uri)
}

/// Logs the broker session out on the server's side: audit, its grants without
/// `offline_access` end, and the clients holding its tokens are queued a back-channel logout.
/// The caller purges the browser's session (cookie and stored state).
pub async fn log_out(
    state: &AppState,
    session: &CurrentSession,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    record_logout(state, session.user_id.clone(), meta).await?;
    backchannel::session_ended(state, &session.user_id, &session.sid, SessionEnd::Logout).await?;
    Ok(())
}
