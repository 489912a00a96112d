//! Operations endpoints (SPEC §6.5) and the stylesheet.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let unavailable = |what: &'static str| {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(what)
    };
    if !state.db.ping().await {
        return unavailable("database unreachable");
    }
    if !state.session_store.ping().await {
        return unavailable("session store (Redis) unreachable");
    }
    HttpResponse::Ok().content_type("text/plain").body("ready")
}

/// `GET /metrics`; with `SSO_BROKER_METRICS_TOKEN` set, only for `Authorization: Bearer <it>`.
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(expected) = &state.settings.metrics_token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !presented.is_some_and(|p| token_matches(p, expected.expose_secret())) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .content_type("text/plain")
                .body("A valid metrics token is required (Authorization: Bearer <token>).");
        }
    }
    let mut text = state.metrics.render();
    text.push_str(&cache_lookups(&state));
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

/// `sso_broker_cache_lookups_total{cache,result}`: how often each in-memory cache answered.
fn cache_lookups(state: &AppState) -> String {
    let (hits, misses) = state.session_store.cache_lookups();
    let mut all = vec![("sessions", hits, misses)];
    all.extend(state.caches.lookups());
    let mut out = String::from("# TYPE sso_broker_cache_lookups_total counter\n");
    for (cache, hits, misses) in all {
        out.push_str(&format!(
            "sso_broker_cache_lookups_total{{cache=\"{cache}\",result=\"hit\"}} {hits}\n\
             sso_broker_cache_lookups_total{{cache=\"{cache}\",result=\"miss\"}} {misses}\n"
        ));
    }
    out
}

/// Compares the SHA-256 digests in constant time, so neither the content nor the length of the
/// token leaks through timing.
fn token_matches(presented: &str, expected: &str) -> bool {
    let (a, b) = (
        Sha256::digest(presented.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

const STYLESHEET: &str = include_str!("../../templates/static/app.css");

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLESHEET)
}

const FILE_FIELD_SCRIPT: &str = include_str!("../../templates/static/file-field.js");

/// The one script: fills a textarea from a chosen file (metadata upload on `/admin/saml`).
pub async fn file_field_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(FILE_FIELD_SCRIPT)
}
