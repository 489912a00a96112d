//! `/invite/{token}`: an invitation link. SSO accounts lead to Log in with SSO; others choose a
//! password (fields `new_password`, `confirm_password`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use secrecy::SecretString;

use super::render;
use crate::routes::errors::{error_page, see_other, PageError};
use crate::routes::extract::{verify_csrf, CsrfToken, Meta};
use crate::services::admin::invitations::{self, InvitationRefusal, InvitationView};
use crate::services::ServiceError;
use crate::AppState;

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub csrf_token: String,
    pub view: InvitationView,
    pub sso_link: String,
    pub error: Option<String>,
}

#[derive(serde::Deserialize)]
pub struct AcceptForm {
    csrf_token: Option<String>,
    new_password: Option<String>,
    confirm_password: Option<String>,
}

fn refused(refusal: InvitationRefusal) -> HttpResponse {
    match refusal {
        InvitationRefusal::Gone => error_page(
            StatusCode::NOT_FOUND,
            "This invitation does not work",
            "The link was used already, has expired, or is not complete. Ask your administrator for a new invitation.",
        ),
        InvitationRefusal::UserNotPending => error_page(
            StatusCode::CONFLICT,
            "This invitation does not work",
            "This user is already active or has been disabled, so the invitation cannot be used; nothing was changed. Sign in as usual, or ask your administrator.",
        ),
    }
}

fn sso_link(view: &InvitationView) -> String {
    match view {
        InvitationView::Sso { account, email } => {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("account", account)
                .append_pair("email", email)
                .finish();
            format!("/login/sso?{q}")
        }
        InvitationView::SetPassword { .. } => String::new(),
    }
}

async fn show_page(
    state: &AppState,
    token: String,
    csrf: CsrfToken,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    let view = match invitations::open(state, token).await? {
        Ok(view) => view,
        Err(refusal) => return Ok(refused(refusal)),
    };
    render(
        status,
        &InvitePage {
            csrf_token: csrf.0,
            sso_link: sso_link(&view),
            view,
            error,
        },
    )
}

pub async fn show(
    state: web::Data<AppState>,
    csrf: CsrfToken,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    show_page(&state, path.into_inner(), csrf, StatusCode::OK, None).await
}

pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    csrf: CsrfToken,
    meta: Meta,
    path: web::Path<String>,
    form: web::Form<AcceptForm>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    verify_csrf(&req, &state, form.csrf_token.as_deref())?;
    let new = form.new_password.clone().unwrap_or_default();
    if Some(&new) != form.confirm_password.as_ref() {
        let text = Some("The passwords do not match.".to_string());
        return show_page(&state, token, csrf, StatusCode::UNPROCESSABLE_ENTITY, text).await;
    }
    match invitations::accept_with_password(&state, token.clone(), SecretString::from(new), meta.0)
        .await
    {
        Ok(Ok(_)) => Ok(see_other("/login?invited=1")),
        Ok(Err(refusal)) => Ok(refused(refusal)),
        Err(e @ ServiceError::Invalid(_)) => {
            let text = Some(e.to_string());
            show_page(&state, token, csrf, StatusCode::UNPROCESSABLE_ENTITY, text).await
        }
        Err(e) => Err(PageError(e)),
    }
}
