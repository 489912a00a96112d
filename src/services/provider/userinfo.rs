//! `GET|POST /oauth2/userinfo` (SPEC §7.2, §7.3): the claims of a live access token's scopes.
//! A token is live when we signed it, it has not expired (broker clock), its refresh family is
//! not revoked, its broker session still lives (families without `offline_access`) and its
//! user is still active and a member of the family's account (as at introspection and
//! refresh). The answer's `sub` is the ID token's.

use serde_json::{Map, Value};

use crate::db::identity_link::IdentityLink;
use crate::db::membership::Membership;
use crate::db::user::User;
use crate::domain::UserStatus;
use crate::oidc_provider::claims::{self, UserFacts};
use crate::services::provider::presented_tokens::{self, Expiry};
use crate::services::ServiceError;
use crate::AppState;

/// The userinfo claims of `token`; `None` when the token is not live (`invalid_token`).
pub async fn userinfo(
    state: &AppState,
    token: &str,
) -> Result<Option<Map<String, Value>>, ServiceError> {
    let Some((access, family)) =
        presented_tokens::access_token(state, token, Expiry::Checked).await?
    else {
        return Ok(None);
    };
    if !presented_tokens::family_lives(state, &family).await? {
        return Ok(None);
    }
    let (user_id, account_id) = (access.sub.clone(), family.account_id.clone());
    let facts = state
        .db
        .run(move |conn| {
            let user = User::find(conn, &user_id)?
                .filter(|u| UserStatus::from_stored(&u.status) == UserStatus::Active);
            let Some(user) = user else {
                return Ok::<_, ServiceError>(None);
            };
            // Removed from the account: an offline token no longer speaks for the user there.
            if Membership::find(conn, &user.id, &account_id)?.is_none() {
                return Ok(None);
            }
            // An invitation confirmed the email, or an IdP vouched for it at an SSO sign-in
            // (SPEC §4/§5).
            let email_verified =
                user.email_verified_at.is_some() || IdentityLink::exists_for_user(conn, &user.id)?;
            Ok(Some(UserFacts {
                user_id: user.id,
                username: user.username,
                email: user.email,
                email_verified,
                given_name: user.given_name,
                family_name: user.family_name,
            }))
        })
        .await?;
    Ok(facts.map(|user| claims::userinfo_claims(&access.scope, &user)))
}
