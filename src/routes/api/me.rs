//! `GET /api/v1/me` (SPEC §6.4): the signed-in identity as JSON; `401` JSON without a session.

use actix_web::{web, HttpResponse};

use crate::routes::errors::ApiError;
use crate::routes::extract::{current_profile, ApiUser};
use crate::AppState;

pub async fn show(state: web::Data<AppState>, user: ApiUser) -> Result<HttpResponse, ApiError> {
    let (s, session) = (user.0, user.1);
    let p = current_profile(&state, &session, &s).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "user": p.user_id,
        "username": p.username,
        "email": p.email,
        "account": p.account,
        "role": p.role,
        "auth_method": s.auth_method,
        "idp": s.idp,
        "amr": s.amr,
        "mfa": s.mfa,
        "accounts": p.memberships.iter().map(|(account, role)| serde_json::json!({"account": account, "role": role})).collect::<Vec<_>>(),
    })))
}
