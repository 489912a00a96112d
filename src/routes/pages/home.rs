//! `/`: the signed-in landing page (until the portal takes over, SPEC §7).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::render;
use crate::routes::errors::PageError;
use crate::routes::extract::{current_profile, CurrentUser};
use crate::services::profile::Profile;
use crate::AppState;

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub profile: Profile,
    pub auth_method: String,
    pub mfa: String,
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    let profile = current_profile(&state, &user.session, &user.signed_in).await?;
    render(
        StatusCode::OK,
        &HomePage {
            profile,
            auth_method: sign_in_method(&user.signed_in),
            mfa: user.signed_in.mfa.clone(),
        },
    )
}

/// How the user signed in, as a person reads it.
fn sign_in_method(signed_in: &crate::auth::session::SignedIn) -> String {
    match (signed_in.auth_method.as_str(), signed_in.idp.as_deref()) {
        ("sso", Some("saml")) => "SSO (SAML)".into(),
        ("sso", Some("entra")) => "SSO (Microsoft Entra ID)".into(),
        ("password+totp", _) => "password and authenticator code".into(),
        (method, _) => method.to_string(),
    }
}
