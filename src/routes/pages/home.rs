//! `/`: the signed-in landing page (until the portal takes over, SPEC §7).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::domain::{AuthMethod, IdpKind};
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{current_profile, verify_csrf, CsrfToken, CurrentUser};
use crate::services::account::profile::Profile;
use crate::AppState;

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub csrf_token: String,
    pub profile: Profile,
    pub auth_method: String,
    pub mfa: String,
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    let profile = current_profile(&state, &user.session, &user.signed_in).await?;
    render(
        StatusCode::OK,
        &HomePage {
            csrf_token: csrf.0,
            profile,
            auth_method: sign_in_method(&user.signed_in),
            mfa: user.signed_in.mfa.to_string(),
        },
    )
}

/// How the user signed in, as a person reads it.
fn sign_in_method(signed_in: &crate::auth::session::SignedIn) -> String {
    match (signed_in.auth_method, signed_in.idp) {
        (AuthMethod::Sso, Some(IdpKind::Saml)) => "SSO (SAML)".into(),
        (AuthMethod::Sso, Some(IdpKind::Entra)) => "SSO (Microsoft Entra ID)".into(),
        (AuthMethod::PasswordAndTotp, _) => "password and authenticator code".into(),
        (method, _) => method.as_str().to_string(),
    }
}

#[derive(serde::Deserialize)]
pub struct SwitchForm {
    csrf_token: Option<String>,
    account: Option<String>,
}

/// `POST /account/switch` (field `account`): another membership becomes the active account,
/// without signing in again (SPEC §3.7).
pub async fn switch(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<SwitchForm>,
) -> Result<HttpResponse, PageError> {
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    current_profile(&state, &user.session, &user.signed_in).await?;
    let name = form.account.clone().unwrap_or_default();
    let account_id =
        crate::services::account::profile::switch_target(&state, &user.signed_in, name).await?;
    crate::auth::session::switch_account(&user.session, &user.signed_in, &account_id)
        .map_err(|e| PageError(crate::services::ServiceError::Internal(e.into())))?;
    Ok(see_other("/"))
}
