//! `/admin/saml`: the account admin's page for a SAML IdP (Okta, Entra's SAML gallery app, any
//! SAML 2.0 IdP): our SP details to enter in the IdP, the IdP metadata import, the email
//! attribute, IdP-initiated sign-in, and certificate rollover.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::routes::errors::PageError;
use crate::routes::extract::{require_sso_admin, verify_csrf, CsrfToken, CurrentUser, Meta};
use crate::services::account::profile::Profile;
use crate::services::connections::saml::{
    self as saml_connections, connection_id_for, SamlChange, SamlConnectionInput,
    SamlConnectionView,
};
use crate::services::ServiceError;
use crate::sso::saml::{claims, SpSettings, NAMEID_EMAIL};
use crate::AppState;

/// Largest settings form: IdP metadata up to its own limit, plus the other fields.
pub const FORM_LIMIT: usize = crate::sso::saml::metadata::MAX_METADATA_LEN + 8192;

#[derive(Template)]
#[template(path = "admin_saml.html")]
pub struct AdminSamlPage {
    pub csrf_token: String,
    pub account: String,
    pub sp: SpSettings,
    pub nameid_format: &'static str,
    pub claim_email: &'static str,
    pub claim_given_name: &'static str,
    pub claim_surname: &'static str,
    pub connection: Option<SamlConnectionView>,
    /// What the form shows: the stored value, or what the admin just typed.
    pub email_attribute: String,
    pub allow_idp_initiated: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct SettingsForm {
    csrf_token: Option<String>,
    idp_metadata_xml: Option<String>,
    email_attribute: Option<String>,
    allow_idp_initiated: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct RemoveForm {
    csrf_token: Option<String>,
    confirm: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct CertificateForm {
    csrf_token: Option<String>,
    certificate: Option<String>,
    fingerprint: Option<String>,
}

struct Outcome {
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    typed: Option<(String, bool)>,
}

impl Outcome {
    fn ok(notice: &str) -> Self {
        Self {
            status: StatusCode::OK,
            notice: Some(notice.into()),
            error: None,
            typed: None,
        }
    }
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    profile: &Profile,
    csrf: CsrfToken,
    outcome: Outcome,
) -> Result<HttpResponse, PageError> {
    let account_id = user.signed_in.account_id.to_string();
    let connection = saml_connections::show(state, account_id.clone()).await?;
    let sp = SpSettings::for_connection(
        state.settings.public_url.as_str(),
        &connection_id_for(&account_id),
    );
    let (email_attribute, allow_idp_initiated) = outcome.typed.unwrap_or_else(|| {
        connection
            .as_ref()
            .map(|c| (c.email_attribute.clone(), c.allow_idp_initiated))
            .unwrap_or_else(|| (claims::EMAIL.to_string(), false))
    });
    render(
        outcome.status,
        &AdminSamlPage {
            csrf_token: csrf.0,
            account: profile.account.clone(),
            sp,
            nameid_format: NAMEID_EMAIL,
            claim_email: claims::EMAIL,
            claim_given_name: claims::GIVEN_NAME,
            claim_surname: claims::SURNAME,
            connection,
            email_attribute,
            allow_idp_initiated,
            notice: outcome.notice,
            error: outcome.error,
        },
    )
}

/// A refusal the admin can fix (bad metadata, too many certificates) shows on the page.
fn admin_error(e: ServiceError, typed: Option<(String, bool)>) -> Result<Outcome, PageError> {
    match e {
        ServiceError::Unprocessable { .. }
        | ServiceError::NotFound { .. }
        | ServiceError::Conflict { .. } => Ok(Outcome {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            notice: None,
            error: Some(e.to_string()),
            typed,
        }),
        e => Err(PageError(e)),
    }
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
) -> Result<HttpResponse, PageError> {
    let profile = require_sso_admin(&state, &user).await?;
    let outcome = Outcome {
        status: StatusCode::OK,
        notice: None,
        error: None,
        typed: None,
    };
    page(&state, &user, &profile, csrf, outcome).await
}

/// `POST /admin/saml`: creates the connection, or changes it.
pub async fn save(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<SettingsForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_sso_admin(&state, &user).await?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let form = form.into_inner();
    let allow = form.allow_idp_initiated.is_some();
    let typed = Some((form.email_attribute.clone().unwrap_or_default(), allow));
    let input = SamlConnectionInput {
        idp_metadata_xml: form.idp_metadata_xml,
        email_attribute: form.email_attribute,
        allow_idp_initiated: Some(allow),
    };
    let actor = format!("user:{}", profile.username);
    let existing = saml_connections::show(&state, user.signed_in.account_id.to_string()).await?;
    let result = match existing {
        Some(_) => saml_connections::update(
            &state,
            user.signed_in.account_id.to_string(),
            SamlChange::Settings(input),
            actor,
            meta.0,
        )
        .await
        .map(|_| "The SAML connection is saved."),
        None => saml_connections::create(&state, profile.account.clone(), input, actor, meta.0)
            .await
            .map(|_| {
                "The SAML connection is set up. Users of this account can now log in with SSO."
            }),
    };
    let outcome = match result {
        Ok(notice) => Outcome::ok(notice),
        Err(e) => admin_error(e, typed)?,
    };
    page(&state, &user, &profile, csrf, outcome).await
}

/// `POST /admin/saml/certificates`: trusts the IdP's next certificate as well.
pub async fn add_certificate(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<CertificateForm>,
) -> Result<HttpResponse, PageError> {
    let change = SamlChange::AddCertificate(form.certificate.clone().unwrap_or_default());
    let notice =
        "The certificate is trusted as well. Remove the old one once the IdP has switched.";
    certificate_change(&req, &state, &user, csrf, meta, &form, change, notice).await
}

/// `POST /admin/saml/certificates/remove`: stops trusting a certificate.
pub async fn remove_certificate(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<CertificateForm>,
) -> Result<HttpResponse, PageError> {
    let change = SamlChange::RemoveCertificate(form.fingerprint.clone().unwrap_or_default());
    let notice = "The certificate is no longer trusted.";
    certificate_change(&req, &state, &user, csrf, meta, &form, change, notice).await
}

/// `POST /admin/saml/remove` with `confirm`: removes the connection and its identity links; the
/// sessions it admitted end at their next request.
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<RemoveForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_sso_admin(&state, &user).await?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let outcome = if form.confirm.as_deref() != Some("on") {
        Outcome {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            notice: None,
            error: Some("Tick the box to confirm that you want to remove the connection.".into()),
            typed: None,
        }
    } else {
        let actor = format!("user:{}", profile.username);
        match saml_connections::remove(&state, user.signed_in.account_id.to_string(), actor, meta.0)
            .await
        {
            Ok(()) => Outcome::ok(
                "The SAML connection is removed. Users who signed in through it are signed out.",
            ),
            Err(e) => admin_error(e, None)?,
        }
    };
    page(&state, &user, &profile, csrf, outcome).await
}

/// Admins only, with the form's CSRF token: applies `change` and shows the page.
#[allow(clippy::too_many_arguments)]
async fn certificate_change(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: &CertificateForm,
    change: SamlChange,
    notice: &str,
) -> Result<HttpResponse, PageError> {
    let profile = require_sso_admin(state, user).await?;
    verify_csrf(req, state, form.csrf_token.as_deref())?;
    let actor = format!("user:{}", profile.username);
    let result = saml_connections::update(
        state,
        user.signed_in.account_id.to_string(),
        change,
        actor,
        meta.0,
    )
    .await;
    let outcome = match result {
        Ok(_) => Outcome::ok(notice),
        Err(e) => admin_error(e, None)?,
    };
    page(state, user, &profile, csrf, outcome).await
}
