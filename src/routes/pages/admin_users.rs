//! `/admin/users`: the active account's members, and "Invite user" (email + role; admins only).
//! Each member action (change role, disable / enable, remove, resend an invitation, end the
//! sessions, reset two-step verification) is a `GET /admin/users/{action}` confirmation that
//! changes nothing, then a `POST` with `csrf_token` that does it (`services::users`) and
//! redirects back with a notice chosen by a known code, never text from the query string.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::render;
use crate::domain::{Role, UserStatus};
use crate::routes::errors::{see_other, PageError};
use crate::routes::extract::{require_admin, verify_csrf, CsrfToken, CurrentUser, Meta};
use crate::services::account::profile::Profile;
use crate::services::admin::accounts;
use crate::services::admin::help_desk;
use crate::services::admin::invitations;
use crate::services::admin::users::{self, Actor, UserChange, UserView};
use crate::services::ServiceError;
use crate::AppState;

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct AdminUsersPage {
    pub csrf_token: String,
    pub account: String,
    pub members: Vec<MemberRow>,
    pub email: String,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The operator offers SSO to the account: the navigation links to the SSO page (SPEC §3.5).
    pub sso_available: bool,
}

/// A member with the actions the page offers for them.
pub struct MemberRow {
    pub user: UserView,
    /// Whether the user's home is this account: only then may its admin change the user as
    /// a whole (status, sessions, two-step verification, invitation).
    pub own: bool,
}

impl MemberRow {
    fn status(&self) -> UserStatus {
        UserStatus::from_stored(&self.user.status)
    }

    pub fn offers(&self, action: &MemberAction) -> bool {
        let own = self.own;
        match action {
            MemberAction::Role | MemberAction::Remove => true,
            MemberAction::Disable => own && self.status() != UserStatus::Disabled,
            MemberAction::Enable => own && self.status() == UserStatus::Disabled,
            MemberAction::ResendInvitation => own && self.status() == UserStatus::Invited,
            MemberAction::EndSessions => own && self.status() == UserStatus::Active,
            MemberAction::ResetTwoStep => own && self.user.totp,
        }
    }

    /// The actions after the role form, in the order the page shows them.
    pub fn buttons(&self) -> Vec<MemberAction> {
        [
            MemberAction::ResendInvitation,
            MemberAction::EndSessions,
            MemberAction::ResetTwoStep,
            MemberAction::Disable,
            MemberAction::Enable,
            MemberAction::Remove,
        ]
        .into_iter()
        .filter(|a| self.offers(a))
        .collect()
    }
}

/// What an admin may do to a member; the path segment of `/admin/users/{action}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberAction {
    Role,
    Disable,
    Enable,
    Remove,
    ResendInvitation,
    EndSessions,
    ResetTwoStep,
}

impl MemberAction {
    fn parse(segment: &str) -> Option<Self> {
        Some(match segment {
            "role" => Self::Role,
            "disable" => Self::Disable,
            "enable" => Self::Enable,
            "remove" => Self::Remove,
            "resend-invitation" => Self::ResendInvitation,
            "end-sessions" => Self::EndSessions,
            "reset-two-step" => Self::ResetTwoStep,
            _ => return None,
        })
    }

    pub fn segment(&self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::Remove => "remove",
            Self::ResendInvitation => "resend-invitation",
            Self::EndSessions => "end-sessions",
            Self::ResetTwoStep => "reset-two-step",
        }
    }

    /// The button that opens the confirmation.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Role => "Change role",
            Self::Disable => "Disable",
            Self::Enable => "Enable",
            Self::Remove => "Remove from account",
            Self::ResendInvitation => "Resend invitation",
            Self::EndSessions => "End sessions",
            Self::ResetTwoStep => "Reset two-step verification",
        }
    }

    /// Whether the change is hard to undo (the confirm button says so by its style).
    pub fn destructive(&self) -> bool {
        matches!(self, Self::Disable | Self::Remove | Self::ResetTwoStep)
    }

    /// The code of the notice after it is done.
    fn done(&self) -> &'static str {
        self.segment()
    }
}

/// The notice for a `done` code; unknown codes show nothing.
fn notice_for(code: &str) -> Option<&'static str> {
    Some(match MemberAction::parse(code)? {
        MemberAction::Role => "The role is changed.",
        MemberAction::Disable => "The user is disabled and signed out everywhere.",
        MemberAction::Enable => "The user is enabled.",
        MemberAction::Remove => "The user is removed from this account and signed out.",
        MemberAction::ResendInvitation => {
            "A new invitation is on its way; the link sent before no longer works."
        }
        MemberAction::EndSessions => "The user's sessions are ended.",
        MemberAction::ResetTwoStep => "Two-step verification is reset; the user is told by email.",
    })
}

#[derive(Template)]
#[template(path = "admin_user_confirm.html")]
pub struct ConfirmPage {
    pub csrf_token: String,
    pub account: String,
    pub action: MemberAction,
    pub user: UserView,
    /// The new role, for a role change.
    pub role: Option<String>,
    pub question: String,
    pub effects: Vec<String>,
}

#[derive(serde::Deserialize)]
pub struct UsersQuery {
    invited: Option<String>,
    done: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct MemberQuery {
    username: Option<String>,
    role: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct MemberForm {
    csrf_token: Option<String>,
    username: Option<String>,
    role: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct InviteForm {
    csrf_token: Option<String>,
    email: Option<String>,
    role: Option<String>,
}

async fn page(
    state: &AppState,
    profile: &Profile,
    csrf: CsrfToken,
    status: StatusCode,
    email: String,
    notice: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let members = users::list(state, profile.account.clone())
        .await?
        .into_iter()
        .map(|user| MemberRow {
            own: user.home_account == profile.account,
            user,
        })
        .collect();
    render(
        status,
        &AdminUsersPage {
            csrf_token: csrf.0,
            account: profile.account.clone(),
            members,
            email,
            notice,
            error,
            sso_available: profile.sso_available,
        },
    )
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    query: web::Query<UsersQuery>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    // The notice names the user only when they are an invited member of this account: never
    // text a link could put on the admin's page.
    let invited = match query.invited.as_ref() {
        Some(name) => crate::services::admin::invitations::members(
            &state,
            user.signed_in.account_id.to_string(),
        )
        .await?
        .into_iter()
        .find(|m| m.username == *name && m.status == "invited")
        .map(|m| m.username),
        None => None,
    };
    let notice = invited
        .map(|u| format!("{u} is invited. The invitation email is on its way."))
        .or_else(|| {
            query
                .done
                .as_deref()
                .and_then(notice_for)
                .map(str::to_string)
        });
    page(
        &state,
        &profile,
        csrf,
        StatusCode::OK,
        String::new(),
        notice,
        None,
    )
    .await
}

pub async fn invite(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let email: String = form
        .email
        .clone()
        .unwrap_or_default()
        .chars()
        .take(254)
        .collect();
    let role = form.role.clone().unwrap_or_default();
    let account_id = accounts::account_id(&state, profile.account.clone()).await?;
    let actor = format!("user:{}", profile.username);
    match invitations::invite(&state, account_id, &email, &role, actor, meta.0).await {
        Ok(username) => Ok(see_other(&format!(
            "/admin/users?invited={}",
            url::form_urlencoded::byte_serialize(username.as_bytes()).collect::<String>()
        ))),
        Err(e @ (ServiceError::Invalid(_) | ServiceError::Conflict { .. })) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let text = e.to_string();
            page(&state, &profile, csrf, status, email, None, Some(text)).await
        }
        Err(e) => Err(PageError(e)),
    }
}

fn parse_action(segment: &str) -> Result<MemberAction, PageError> {
    MemberAction::parse(segment).ok_or(PageError(ServiceError::NotFound {
        code: "not_found",
        message: "This page does not exist.",
    }))
}

/// What confirming `action` does to `user`, in words.
fn describe(
    action: MemberAction,
    user: &UserView,
    account: &str,
    role: Option<Role>,
) -> (String, Vec<String>) {
    let name = &user.username;
    match action {
        MemberAction::Role => {
            let to = role.map(Role::as_str).unwrap_or_default();
            (
                format!("Change the role of {name}?"),
                vec![format!(
                    "{name}'s role in {account} changes from {} to {to}.",
                    user.role
                )],
            )
        }
        MemberAction::Disable => (
            format!("Disable {name}?"),
            vec![
                format!("{name} can no longer sign in, in any account."),
                format!("{name}'s sessions end now; a pending invitation stops working."),
            ],
        ),
        MemberAction::Enable => (
            format!("Enable {name}?"),
            vec![format!(
                "{name} can sign in again (a user who never accepted their invitation is invited again: resend the invitation then)."
            )],
        ),
        MemberAction::Remove => (
            format!("Remove {name} from {account}?"),
            vec![
                format!("{name} loses access to {account} and is signed out now."),
                format!("A user left with no account is disabled."),
            ],
        ),
        MemberAction::ResendInvitation => (
            format!("Resend the invitation to {name}?"),
            vec![
                format!("A new invitation email goes to {}.", user.email),
                "The link sent before stops working.".to_string(),
            ],
        ),
        MemberAction::EndSessions => (
            format!("End the sessions of {name}?"),
            vec![format!(
                "{name} is signed out everywhere now and can sign in again."
            )],
        ),
        MemberAction::ResetTwoStep => (
            format!("Reset two-step verification for {name}?"),
            vec![
                format!("{name}'s authenticator app and recovery codes stop working."),
                format!(
                    "{name} then signs in with the password alone and can set up two-step verification again. They are told by email."
                ),
            ],
        ),
    }
}

/// `GET /admin/users/{action}?username=…[&role=…]`: names the member and the effect; changes
/// nothing.
pub async fn confirm(
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    path: web::Path<String>,
    query: web::Query<MemberQuery>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    let action = parse_action(&path)?;
    let username = query.username.clone().unwrap_or_default();
    let target = users::get(&state, profile.account.clone(), username).await?;
    let row = MemberRow {
        own: target.home_account == profile.account,
        user: target,
    };
    if !row.offers(&action) {
        // Another home account, or a status the action does not fit.
        return Err(if row.own {
            PageError(ServiceError::Conflict {
                code: "action_not_available",
                message: "This action does not fit the user's current status.",
            })
        } else {
            PageError(ServiceError::Forbidden)
        });
    }
    let role = match action {
        MemberAction::Role => Some(
            Role::parse(query.role.as_deref().unwrap_or_default()).map_err(ServiceError::from)?,
        ),
        _ => None,
    };
    let (question, effects) = describe(action, &row.user, &profile.account, role);
    render(
        StatusCode::OK,
        &ConfirmPage {
            csrf_token: csrf.0,
            account: profile.account.clone(),
            action,
            user: row.user,
            role: role.map(|r| r.as_str().to_string()),
            question,
            effects,
        },
    )
}

/// `POST /admin/users/{action}` with `csrf_token`, `username` (and `role`): does it, audits it
/// and goes back to the list with a notice.
pub async fn apply(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    meta: Meta,
    path: web::Path<String>,
    form: web::Form<MemberForm>,
) -> Result<HttpResponse, PageError> {
    let profile = require_admin(&state, &user).await?;
    let action = parse_action(&path)?;
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let username = form.username.clone().unwrap_or_default();
    let role = form.role.clone().unwrap_or_default();
    let result = run(&state, &profile, action, username, role, meta.0).await;
    match result {
        Ok(()) => Ok(see_other(&format!("/admin/users?done={}", action.done()))),
        Err(
            e @ (ServiceError::Invalid(_)
            | ServiceError::Conflict { .. }
            | ServiceError::Unprocessable { .. }),
        ) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let text = e.to_string();
            page(
                &state,
                &profile,
                csrf,
                status,
                String::new(),
                None,
                Some(text),
            )
            .await
        }
        Err(e) => Err(PageError(e)),
    }
}

/// Does `action` as the admin of the active account.
async fn run(
    state: &AppState,
    profile: &Profile,
    action: MemberAction,
    username: String,
    role: String,
    meta: crate::services::RequestMeta,
) -> Result<(), ServiceError> {
    let account = profile.account.clone();
    let actor = Actor::AccountAdmin(profile.username.clone());
    let change = |status: Option<&str>, role: Option<String>| UserChange {
        status: status.map(str::to_string),
        role,
    };
    let change = match action {
        MemberAction::Role => change(None, Some(role)),
        MemberAction::Disable => change(Some("disabled"), None),
        MemberAction::Enable => change(Some("active"), None),
        MemberAction::Remove => {
            return Box::pin(users::remove_membership(
                state, account, username, actor, meta,
            ))
            .await
        }
        MemberAction::ResendInvitation => {
            return Box::pin(help_desk::resend_invitation(
                state, account, username, actor, meta,
            ))
            .await
        }
        MemberAction::EndSessions => {
            Box::pin(help_desk::revoke_sessions(
                state, account, username, actor, meta,
            ))
            .await?;
            return Ok(());
        }
        MemberAction::ResetTwoStep => {
            return Box::pin(help_desk::reset_totp(state, account, username, actor, meta)).await
        }
    };
    Box::pin(users::update(state, account, username, change, actor, meta)).await?;
    Ok(())
}
