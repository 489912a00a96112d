//! `/admin/sso`: the account admin's SSO settings (SPEC §3.4–§3.6): enable (after a confirmation
//! page listing the username changes, shared emails and invitations), the policy (enforce, the
//! break-glass admin login, require IdP MFA, JIT with role and accounts, Entra authentication
//! context), and disable (rollback, also confirmed).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{require_sso_admin, verify_csrf, CsrfToken, CurrentUser, Meta};
use crate::services::account::profile::Profile;
use crate::services::admin::accounts;
use crate::services::admin::sso_settings::{
    self, EnableReport, JitChange, SsoChange, SsoSettingsView,
};
use crate::services::ServiceError;
use crate::AppState;

/// What the confirmation section asks.
pub enum Confirm {
    Enable(EnableReport),
    Disable(Vec<String>),
}

#[derive(Template)]
#[template(path = "admin_sso.html")]
pub struct AdminSsoPage {
    pub csrf_token: String,
    pub settings: SsoSettingsView,
    /// This account and its sub-accounts (JIT choices).
    pub tree: Vec<String>,
    pub confirm: Option<Confirm>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    saved: Option<String>,
}

/// The posted fields, in order (checkbox lists repeat a name).
type Fields = Vec<(String, String)>;

fn field<'a>(form: &'a Fields, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

struct Context {
    profile: Profile,
    account_id: String,
}

async fn context(
    req: &HttpRequest,
    state: &AppState,
    user: &CurrentUser,
    form: Option<&Fields>,
) -> Result<Context, PageError> {
    let profile = require_sso_admin(state, user).await?;
    if let Some(form) = form {
        verify_csrf(req, state, field(form, "csrf_token"))?;
    }
    let account_id = accounts::account_id(state, profile.account.clone()).await?;
    Ok(Context {
        profile,
        account_id,
    })
}

async fn page(
    state: &AppState,
    ctx: &Context,
    csrf: CsrfToken,
    status: StatusCode,
    confirm: Option<Confirm>,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let settings = sso_settings::get(state, ctx.account_id.clone()).await?;
    let tree = accounts::account_tree(state, ctx.profile.account.clone()).await?;
    render(
        status,
        &AdminSsoPage {
            csrf_token: csrf.0,
            settings,
            tree,
            confirm,
            notice,
            error,
        },
    )
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, PageError> {
    let ctx = context(&req, &state, &user, None).await?;
    let notice = query.saved.as_deref().map(|what| match what {
        "enabled" => "SSO is on. Invitations are on their way to your users.".to_string(),
        "disabled" => "SSO is off. Your users were emailed temporary passwords.".to_string(),
        _ => "The SSO policy is saved.".to_string(),
    });
    page(&state, &ctx, csrf, StatusCode::OK, None, notice, None).await
}

/// The current settings as a change, for the enable/disable steps.
fn unchanged(s: &SsoSettingsView, enabled: bool) -> SsoChange {
    SsoChange {
        enabled,
        enforced: enabled && s.enforced,
        enforcement_scope: Some(s.enforcement_scope.to_string()),
        allow_admin_password_login: s.allow_admin_password_login,
        require_idp_mfa: s.require_idp_mfa,
        jit: JitChange {
            enabled: s.jit.enabled,
            default_role: s.jit.default_role.clone(),
            accounts: s.jit.accounts.clone(),
        },
        entra_auth_context: s.entra_auth_context.clone(),
    }
}

async fn apply(
    state: &AppState,
    ctx: &Context,
    csrf: CsrfToken,
    change: SsoChange,
    meta: Meta,
    saved: &str,
) -> Result<HttpResponse, PageError> {
    let actor = format!("user:{}", ctx.profile.username);
    match sso_settings::update(state, ctx.account_id.clone(), change, actor, meta.0).await {
        Ok(_) => Ok(see_other(&format!("/admin/sso?saved={saved}"))),
        Err(e @ (ServiceError::Invalid(_) | ServiceError::Unprocessable { .. })) => {
            let text = e.to_string();
            page(
                state,
                ctx,
                csrf,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                None,
                Some(text),
            )
            .await
        }
        Err(e) => Err(PageError(e)),
    }
}

/// The confirmation page of turning SSO on (`true`) or off: nothing changes yet.
async fn preview(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    form: web::Form<Fields>,
    enable: bool,
) -> Result<HttpResponse, PageError> {
    let ctx = context(&req, &state, &user, Some(&form)).await?;
    let id = ctx.account_id.clone();
    let confirm = if enable {
        Confirm::Enable(sso_settings::preview_enable(&state, id).await?)
    } else {
        Confirm::Disable(sso_settings::preview_rollback(&state, id).await?)
    };
    page(
        &state,
        &ctx,
        csrf,
        StatusCode::OK,
        Some(confirm),
        None,
        None,
    )
    .await
}

/// Turns SSO on (`true`) or off, keeping the rest of the policy.
async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<Fields>,
    enable: bool,
) -> Result<HttpResponse, PageError> {
    let ctx = context(&req, &state, &user, Some(&form)).await?;
    let current = sso_settings::get(&state, ctx.account_id.clone()).await?;
    let saved = if enable { "enabled" } else { "disabled" };
    apply(&state, &ctx, csrf, unchanged(&current, enable), meta, saved).await
}

/// `POST /admin/sso/enable`: the confirmation page listing renames, shared emails, invitations.
pub async fn enable(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    form: web::Form<Fields>,
) -> Result<HttpResponse, PageError> {
    preview(req, state, user, csrf, form, true).await
}

/// `POST /admin/sso/enable/confirm`: turns SSO on.
pub async fn enable_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<Fields>,
) -> Result<HttpResponse, PageError> {
    confirm(req, state, user, csrf, meta, form, true).await
}

/// `POST /admin/sso/disable`: the confirmation page listing who gets temporary passwords.
pub async fn disable(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    form: web::Form<Fields>,
) -> Result<HttpResponse, PageError> {
    preview(req, state, user, csrf, form, false).await
}

/// `POST /admin/sso/disable/confirm`: turns SSO off (temporary passwords by email).
pub async fn disable_confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<Fields>,
) -> Result<HttpResponse, PageError> {
    confirm(req, state, user, csrf, meta, form, false).await
}

/// `POST /admin/sso/policy`: enforcement, break-glass, MFA, JIT, authentication context.
pub async fn policy(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<Fields>,
) -> Result<HttpResponse, PageError> {
    let ctx = context(&req, &state, &user, Some(&form)).await?;
    let current = sso_settings::get(&state, ctx.account_id.clone()).await?;
    let on = |name: &str| field(&form, name) == Some("on");
    let change = SsoChange {
        enabled: current.enabled,
        enforced: on("enforced"),
        enforcement_scope: field(&form, "enforcement_scope").map(str::to_string),
        allow_admin_password_login: on("allow_admin_password_login"),
        require_idp_mfa: on("require_idp_mfa"),
        jit: JitChange {
            enabled: on("jit_enabled"),
            default_role: field(&form, "jit_default_role")
                .unwrap_or("user")
                .to_string(),
            accounts: form
                .iter()
                .filter(|(k, _)| k == "jit_accounts")
                .map(|(_, v)| v.clone())
                .take(100)
                .collect(),
        },
        entra_auth_context: field(&form, "entra_auth_context").map(str::to_string),
    };
    apply(&state, &ctx, csrf, change, meta, "policy").await
}
