//! HTTP face of the development IdP (SPEC §6.6): a separate server, started by `demo` and by
//! tests on a loopback port. Thin handlers over `sso::devidp::DevIdp`.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use data_encoding::BASE64;

use crate::clock::SharedClock;
use crate::sso::devidp::{DevIdp, DevTenant, ORGANIZATIONS};

struct DevIdpState {
    idp: Arc<DevIdp>,
    clock: SharedClock,
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn discovery(state: web::Data<DevIdpState>, path: web::Path<String>) -> HttpResponse {
    match state.idp.discovery(&path) {
        Some(doc) => HttpResponse::Ok().json(doc),
        None => HttpResponse::BadRequest().json(serde_json::json!({ "error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found." })),
    }
}

async fn keys(state: web::Data<DevIdpState>) -> HttpResponse {
    HttpResponse::Ok().json(state.idp.jwks())
}

/// The sign-in page: one button per user of the tenant, and Cancel.
async fn authorize_page(
    state: web::Data<DevIdpState>,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let tenant = if path.as_str() == ORGANIZATIONS {
        Some(DevTenant {
            display_name: "Sign in with your work account".into(),
            verified_domains: vec![],
            consented: true,
            users: state.idp.all_users(),
            graph_id_override: None,
        })
    } else {
        state.idp.tenant(&path)
    };
    let Some(tenant) = tenant else {
        return HttpResponse::BadRequest().body("AADSTS90002: Tenant not found.");
    };
    let hidden: String = query
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let hint = query.get("login_hint").cloned().unwrap_or_default();
    let users: String = tenant
        .users
        .iter()
        .map(|u| {
            let hinted = if u.email.eq_ignore_ascii_case(&hint) { " (suggested)" } else { "" };
            format!(
                "<form method=\"post\">{hidden}<input type=\"hidden\" name=\"oid\" value=\"{}\"><button type=\"submit\">Sign in as {} &lt;{}&gt;{hinted}</button></form>",
                escape(&u.oid),
                escape(&u.name),
                escape(&u.email)
            )
        })
        .collect();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Development IdP</title></head>\
         <body style=\"font-family:system-ui;max-width:480px;margin:3rem auto;padding:0 1rem\"><h1>{}</h1><p>Development identity provider: choose who signs in.</p>{users}\
         <form method=\"post\">{hidden}<input type=\"hidden\" name=\"cancel\" value=\"1\"><button type=\"submit\">Cancel</button></form></body></html>",
        escape(&tenant.display_name)
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

async fn authorize_submit(
    state: web::Data<DevIdpState>,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let form = form.into_inner();
    let location = if form.contains_key("cancel") {
        let Some(mut back) = form
            .get("redirect_uri")
            .and_then(|u| url::Url::parse(u).ok())
        else {
            return HttpResponse::BadRequest().body("AADSTS50011: Invalid redirect URI.");
        };
        back.query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair(
                "error_description",
                "AADSTS65004: User declined to consent to access the app.",
            )
            .append_pair(
                "state",
                form.get("state").map(String::as_str).unwrap_or_default(),
            );
        back.to_string()
    } else {
        match state.idp.authorize(
            &path,
            &form,
            form.get("oid").map(String::as_str).unwrap_or_default(),
        ) {
            Ok(location) => location,
            Err(message) => return HttpResponse::BadRequest().body(message),
        }
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The admin-consent page: Accept or Decline on behalf of the tenant.
async fn admin_consent_page(
    state: web::Data<DevIdpState>,
    path: web::Path<String>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let Some(tenant) = state.idp.tenant(&path) else {
        return HttpResponse::BadRequest().body("AADSTS90002: Tenant not found.");
    };
    let hidden: String = query
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Permissions requested</title></head>\
         <body style=\"font-family:system-ui;max-width:480px;margin:3rem auto;padding:0 1rem\"><h1>Permissions requested</h1>\
         <p>sso-broker wants to read {}'s organization profile (Organization.Read.All). Accept for your organization?</p>\
         <form method=\"post\">{hidden}<input type=\"hidden\" name=\"decision\" value=\"accept\"><button type=\"submit\">Accept</button></form>\
         <form method=\"post\">{hidden}<input type=\"hidden\" name=\"decision\" value=\"decline\"><button type=\"submit\">Decline</button></form></body></html>",
        escape(&tenant.display_name)
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body)
}

async fn admin_consent_submit(
    state: web::Data<DevIdpState>,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let accept = form.get("decision").map(String::as_str) == Some("accept");
    match state.idp.admin_consent(&path, &form, accept) {
        Ok(location) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .finish(),
        Err(message) => HttpResponse::BadRequest().body(message),
    }
}

async fn token(
    state: web::Data<DevIdpState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let mut form = form.into_inner();
    // client_secret_basic: RFC 6749 §2.3.1, form-urlencoded id and secret in Basic auth.
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| BASE64.decode(b.as_bytes()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some((id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) {
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        form.insert("client_id".into(), decode(id));
        form.insert("client_secret".into(), decode(secret));
    }
    let result = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => state.idp.redeem_code(&path, &form, state.clock.now()),
        _ => state
            .idp
            .client_credentials(&path, &form, state.clock.now()),
    };
    match result {
        Ok(body) => HttpResponse::Ok().json(body),
        Err((code, body)) => HttpResponse::build(status(code)).json(body),
    }
}

async fn organization(state: web::Data<DevIdpState>, req: HttpRequest) -> HttpResponse {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    match state.idp.organization(bearer) {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(code) => HttpResponse::build(status(code))
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
            .route(
                "/{tid}/v2.0/.well-known/openid-configuration",
                web::get().to(discovery),
            )
            .route("/{tid}/discovery/v2.0/keys", web::get().to(keys))
            .route(
                "/{tid}/oauth2/v2.0/authorize",
                web::get().to(authorize_page),
            )
            .route(
                "/{tid}/oauth2/v2.0/authorize",
                web::post().to(authorize_submit),
            )
            .route("/{tid}/oauth2/v2.0/token", web::post().to(token))
            .route(
                "/{tid}/v2.0/adminconsent",
                web::get().to(admin_consent_page),
            )
            .route(
                "/{tid}/v2.0/adminconsent",
                web::post().to(admin_consent_submit),
            )
            .route("/v1.0/organization", web::get().to(organization))
    })
    .workers(1)
    .listen(listener)?
    .run())
}
