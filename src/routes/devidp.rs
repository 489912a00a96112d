//! HTTP face of the development IdP (SPEC §6.6): a separate server, started by `demo` and by
//! tests on a loopback port. Thin handlers over `sso::devidp::DevIdp`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

use crate::clock::SharedClock;
use crate::sso::devidp::DevIdp;

struct DevIdpState {
    idp: Arc<DevIdp>,
    clock: SharedClock,
}

async fn keys(state: web::Data<DevIdpState>) -> HttpResponse {
    HttpResponse::Ok().json(state.idp.jwks())
}

async fn token(
    state: web::Data<DevIdpState>,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    match state
        .idp
        .client_credentials(&path, &form, state.clock.now())
    {
        Ok(body) => HttpResponse::Ok().json(body),
        Err((status, body)) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
        )
        .json(body),
    }
}

async fn organization(state: web::Data<DevIdpState>, req: HttpRequest) -> HttpResponse {
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    match state.idp.organization(bearer) {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(status) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::UNAUTHORIZED),
        )
        .json(serde_json::json!({ "error": { "code": "InvalidAuthenticationToken" } })),
    }
}

/// Serves `idp` on `listener` (its authority is `http://<listener address>`).
pub fn serve(
    idp: Arc<DevIdp>,
    clock: SharedClock,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let data = web::Data::new(DevIdpState { idp, clock });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/{tid}/discovery/v2.0/keys", web::get().to(keys))
            .route("/{tid}/oauth2/v2.0/token", web::post().to(token))
            .route("/v1.0/organization", web::get().to(organization))
    })
    .workers(1)
    .listen(listener)?
    .run())
}
