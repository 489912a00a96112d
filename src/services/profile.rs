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
