//! Who the signed-in user is, in the active account (home page, `/api/v1/me`).

use super::ServiceError;
use crate::auth::session::SignedIn;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::domain::UserStatus;
use crate::AppState;

#[derive(Debug, Clone)]
pub struct Profile {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub account: String,
    pub role: String,
    /// Every account the user reaches, with the role there.
    pub memberships: Vec<(String, String)>,
    /// A temporary password (SSO rollback, admin reset) must be replaced first.
    pub must_change_password: bool,
}

/// The profile behind a session. A user disabled or removed since sign-in ends the session.
pub async fn load(state: &AppState, signed_in: &SignedIn) -> Result<Profile, ServiceError> {
    let (user_id, account_id) = (signed_in.user_id.clone(), signed_in.account_id.clone());
    state
        .db
        .run(move |conn| {
            let user = User::find(conn, &user_id)?
                .filter(|u| UserStatus::from_stored(&u.status) == UserStatus::Active)
                .ok_or(ServiceError::SessionExpired)?;
            let memberships = Membership::list_for_user(conn, &user.id)?;
            let (active, account) = memberships
                .iter()
                .find(|(m, _)| m.account_id == account_id)
                .map(|(m, name)| (m.role.clone(), name.clone()))
                .ok_or(ServiceError::SessionExpired)?;
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
            })
        })
        .await
}

/// The account `name` the signed-in user may switch to: a membership is required, and an
/// account that enforces SSO accepts only an SSO sign-in (or its break-glass admin).
pub async fn switch_target(
    state: &AppState,
    signed_in: &SignedIn,
    name: String,
) -> Result<String, ServiceError> {
    let (user_id, method) = (signed_in.user_id.clone(), signed_in.auth_method.clone());
    state
        .db
        .run(move |conn| {
            let account =
                super::accounts::find_account(conn, &name).map_err(|_| ServiceError::Forbidden)?;
            let membership =
                Membership::find(conn, &user_id, &account.id)?.ok_or(ServiceError::Forbidden)?;
            let role = crate::domain::Role::parse(&membership.role).ok();
            let policy = super::sso_settings::load_policy(conn, &account.id)?;
            if method != "sso"
                && policy.password_login(role) == crate::domain::PasswordLogin::Refused
            {
                return Err(ServiceError::PasswordLoginDisabled);
            }
            Ok(account.id)
        })
        .await
}
