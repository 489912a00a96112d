//! Who the signed-in user is, in the active account (home page, `/api/v1/me`).

use crate::auth::session::SignedIn;
use crate::db::account::Account;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::domain::trust::AccountAdmission;
use crate::domain::{Role, UserStatus};
use crate::services::trust;
use crate::services::ServiceError;
use crate::AppState;

#[derive(Debug, Clone)]
pub struct Profile {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub account: String,
    /// The role in the active account as stored (shown as is; `role()` reads it).
    pub role: String,
    /// Every account the user reaches, with the role there.
    pub memberships: Vec<(String, String)>,
    /// A temporary password (SSO rollback, admin reset) must be replaced first.
    pub must_change_password: bool,
    /// The operator offers SSO to the active account (SPEC §3.5): its admins see the SSO,
    /// Entra and SAML pages.
    pub sso_available: bool,
}

impl Profile {
    /// The role in the active account; `None` for a stored role this version does not know.
    pub fn role(&self) -> Option<Role> {
        Role::from_stored(&self.role)
    }

    /// Whether the user is an admin of the active account.
    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    /// Refuses the active account's SSO configuration pages when SSO is not offered to it
    /// (the rule is `accounts::sso_available`, read when the profile was loaded).
    pub fn require_sso_available(&self) -> Result<(), ServiceError> {
        if self.sso_available {
            Ok(())
        } else {
            Err(ServiceError::SsoNotAvailable)
        }
    }
}

/// The profile behind a session. A user disabled or removed since sign-in ends the session.
/// Read through the profile cache, which every change to users, memberships, accounts or
/// trust drops (`crate::cache`).
pub async fn load(state: &AppState, signed_in: &SignedIn) -> Result<Profile, ServiceError> {
    let profiles = &state.caches.profiles;
    let Some(key) = cache_key(signed_in) else {
        return load_stored(state, signed_in).await;
    };
    if let Some(hit) = profiles.get(&key) {
        return Ok(hit);
    }
    let ticket = profiles.ticket();
    let profile = load_stored(state, signed_in).await?;
    profiles.insert(ticket, key, profile.clone());
    Ok(profile)
}

/// Everything about a sign-in that the profile depends on: all of it but the activity time.
fn cache_key(signed_in: &SignedIn) -> Option<String> {
    let mut facts = signed_in.clone();
    facts.last_seen_at = 0;
    serde_json::to_string(&facts).ok()
}

async fn load_stored(state: &AppState, signed_in: &SignedIn) -> Result<Profile, ServiceError> {
    let (user_id, account_id) = (
        signed_in.user_id.to_string(),
        signed_in.account_id.to_string(),
    );
    let signed_in = signed_in.clone();
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            let user = User::find(conn, &user_id)?
                .filter(|u| UserStatus::from_stored(&u.status) == UserStatus::Active)
                .ok_or(ServiceError::SessionExpired)?;
            // The connection or tenant that admitted an SSO session was withdrawn (SPEC §3.8).
            if !trust::still_admitted(conn, &signed_in)? {
                return Err(ServiceError::SessionExpired);
            }
            let memberships = Membership::list_for_user(conn, &user.id)?;
            let (active, account) = memberships
                .iter()
                .find(|(m, _)| m.account_id == account_id)
                .map(|(m, name)| (m.role.clone(), name.clone()))
                .ok_or(ServiceError::SessionExpired)?;
            let sso_available = Account::find(conn, &account_id)?
                .is_some_and(|a| crate::services::admin::accounts::sso_available(&st, &a));
            Ok(Profile {
                user_id: user.id,
                username: user.username,
                email: user.email,
                account,
                role: active,
                memberships: memberships
                    .into_iter()
                    .map(|(m, name)| (name, m.role))
                    .collect(),
                must_change_password: user.must_change_password,
                sso_available,
            })
        })
        .await
}

/// The account `name` the signed-in user may switch to (SPEC §3.8): a membership is required,
/// and the account must admit the session's sign-in now — it does not enforce SSO or the session
/// came through its own connection, and its require-IdP-MFA policy is met.
pub async fn switch_target(
    state: &AppState,
    signed_in: &SignedIn,
    name: String,
) -> Result<String, ServiceError> {
    let signed_in = signed_in.clone();
    state
        .db
        .run(move |conn| {
            let account = crate::services::admin::accounts::find_account(conn, &name)
                .map_err(|_| ServiceError::Forbidden)?;
            trust::role_in(conn, signed_in.user_id.as_str(), &account.id)?
                .ok_or(ServiceError::Forbidden)?;
            let user =
                User::find(conn, signed_in.user_id.as_str())?.ok_or(ServiceError::Forbidden)?;
            let admission = trust::account_admits(conn, &signed_in, &user, &account.id)?;
            if admission == AccountAdmission::Admitted {
                return Ok(account.id);
            }
            Err(ServiceError::AccountSignInRequired {
                account: account.name,
                email: user.email,
                mfa_missing: admission == AccountAdmission::IdpMfaMissing,
            })
        })
        .await
}
