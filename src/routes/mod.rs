//! HTTP: the whole URL map in `configure`, thin handlers that extract, call a service and render.

pub mod api;
pub mod devidp;
pub mod devidp_saml;
pub mod errors;
pub mod extract;
pub mod middleware;
pub mod oidc;
pub mod ops;
pub mod pages;

use actix_web::web;

use crate::oidc_provider::discovery::paths as oidc_paths;

/// Every route of the broker.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::home::show))
        .route("/static/app.css", web::get().to(ops::stylesheet))
        .route(
            "/static/file-field.js",
            web::get().to(ops::file_field_script),
        )
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .service(api_scope())
        .route(
            oidc_paths::DISCOVERY,
            web::get().to(oidc::discovery::openid_configuration),
        )
        .route(oidc_paths::JWKS, web::get().to(oidc::discovery::jwks))
        .route(
            oidc_paths::AUTHORIZE,
            web::get().to(oidc::authorize::authorize_get),
        )
        .route(
            oidc_paths::AUTHORIZE,
            web::post().to(oidc::authorize::authorize_post),
        )
        .service(
            web::resource(oidc_paths::TOKEN)
                .app_data(oidc::token::form_config())
                .route(web::post().to(oidc::token::exchange)),
        )
        .route(
            oidc_paths::USERINFO,
            web::get().to(oidc::userinfo::userinfo_get),
        )
        .route(
            oidc_paths::USERINFO,
            web::post().to(oidc::userinfo::userinfo_post),
        )
        .service(
            web::resource(oidc_paths::REVOKE)
                .app_data(oidc::token::form_config())
                .route(web::post().to(oidc::revocation::revoke)),
        )
        .service(
            web::resource(oidc_paths::INTROSPECT)
                .app_data(oidc::token::form_config())
                .route(web::post().to(oidc::revocation::introspect)),
        )
        .route(oidc_paths::LOGOUT, web::get().to(oidc::logout::logout_get))
        .route(
            oidc_paths::LOGOUT,
            web::post().to(oidc::logout::logout_post),
        )
        .route(
            oidc_paths::AUTHORIZE_CONTINUE,
            web::get().to(oidc::authorize::resume),
        )
        .route("/login", web::get().to(pages::login::show))
        .route("/login", web::post().to(pages::login::submit))
        .route("/login/otp", web::get().to(pages::otp::show))
        .route("/login/otp", web::post().to(pages::otp::submit))
        .route("/login/sso", web::get().to(pages::sso::show))
        .route("/login/sso", web::post().to(pages::sso::submit))
        .route(
            "/sso/oidc/callback",
            web::get().to(pages::sso::oidc_callback),
        )
        .service(
            web::resource("/sso/saml/acs/{connection_id}")
                .app_data(web::FormConfig::default().limit(pages::saml::ACS_FORM_LIMIT))
                .route(web::post().to(pages::saml::acs)),
        )
        .route(
            "/sso/saml/metadata/{connection_id}",
            web::get().to(pages::saml::sp_metadata),
        )
        .service(
            web::resource("/admin/saml")
                .app_data(web::FormConfig::default().limit(pages::admin_saml::FORM_LIMIT))
                .route(web::get().to(pages::admin_saml::show))
                .route(web::post().to(pages::admin_saml::save)),
        )
        .route(
            "/admin/saml/certificates",
            web::post().to(pages::admin_saml::add_certificate),
        )
        .route(
            "/admin/saml/remove",
            web::post().to(pages::admin_saml::remove),
        )
        .route(
            "/admin/saml/certificates/remove",
            web::post().to(pages::admin_saml::remove_certificate),
        )
        // A GET shows the "Connect" button and changes nothing; the button POSTs (SPEC §6.4).
        .route(
            "/admin-consent/start",
            web::get().to(pages::admin_entra::show),
        )
        .route(
            "/admin-consent/start",
            web::post().to(pages::sso::admin_consent_start),
        )
        .route(
            "/admin-consent/callback",
            web::get().to(pages::sso::admin_consent_callback),
        )
        .route("/admin/domains", web::get().to(pages::admin_domains::show))
        .route(
            "/admin/domains",
            web::post().to(pages::admin_domains::claim),
        )
        .route(
            "/admin/domains/verify",
            web::post().to(pages::admin_domains::verify),
        )
        .route(
            "/admin/domains/remove",
            web::post().to(pages::admin_domains::remove),
        )
        .route("/admin/sso", web::get().to(pages::admin_sso::show))
        .route("/admin/audit", web::get().to(pages::admin_audit::show))
        .route("/admin/users", web::get().to(pages::admin_users::show))
        .route(
            "/admin/users/invite",
            web::post().to(pages::admin_users::invite),
        )
        // {action}: role, disable, enable, remove, resend-invitation, end-sessions,
        // reset-two-step. GET confirms (changes nothing), POST does it.
        .route(
            "/admin/users/{action}",
            web::get().to(pages::admin_users::confirm),
        )
        .route(
            "/admin/users/{action}",
            web::post().to(pages::admin_users::apply),
        )
        .route(
            middleware::INVITATION_ROUTE,
            web::get().to(pages::invite::show),
        )
        .route(
            middleware::INVITATION_ROUTE,
            web::post().to(pages::invite::accept),
        )
        .route("/account/switch", web::post().to(pages::home::switch))
        .route(
            "/admin/sso/enable",
            web::post().to(pages::admin_sso::enable),
        )
        .route(
            "/admin/sso/enable/confirm",
            web::post().to(pages::admin_sso::enable_confirm),
        )
        .route(
            "/admin/sso/disable",
            web::post().to(pages::admin_sso::disable),
        )
        .route(
            "/admin/sso/disable/confirm",
            web::post().to(pages::admin_sso::disable_confirm),
        )
        .route(
            "/admin/sso/policy",
            web::post().to(pages::admin_sso::policy),
        )
        .route("/admin/entra", web::get().to(pages::admin_entra::show))
        .route(
            "/admin/entra/tenants/{tenant_id}/check",
            web::post().to(pages::admin_entra::check),
        )
        .route(
            "/admin/entra/tenants/{tenant_id}/remove",
            web::post().to(pages::admin_entra::remove),
        )
        .route("/logout", web::get().to(pages::logout::show))
        .route("/logout", web::post().to(pages::logout::submit))
        .route("/account/security", web::get().to(pages::security::show))
        .route(
            "/account/security",
            web::post().to(pages::security::confirm_totp),
        )
        .route(
            "/account/security/totp",
            web::post().to(pages::security::confirm_totp),
        )
        .route(
            "/account/security/recovery-codes",
            web::post().to(pages::security::regenerate_codes),
        )
        .route(
            "/account/security/password",
            web::post().to(pages::security::change_password),
        );
}

/// The operator and portal API (SPEC §6). Registered right after the operations endpoints:
/// actix tries resources in order, and the busiest calls (`/me`, `/entra/validate`) should not
/// first be compared with every page's pattern.
fn api_scope() -> actix_web::Scope {
    web::scope("/api/v1")
        .route("/me", web::get().to(api::me::show))
        .route("/entra/validate", web::post().to(api::entra::validate))
        .route("/accounts", web::post().to(api::accounts::create_account))
        .route(
            "/accounts/{name}",
            web::get().to(api::accounts::get_account),
        )
        .route(
            "/accounts/{name}",
            web::patch().to(api::accounts::update_account),
        )
        .route(
            "/accounts/{name}/users",
            web::post().to(api::accounts::create_user),
        )
        .route("/accounts/{name}/users", web::get().to(api::users::list))
        .route(
            "/accounts/{name}/users/{username}",
            web::patch().to(api::users::update),
        )
        .route(
            "/accounts/{name}/users/{username}",
            web::delete().to(api::users::remove),
        )
        .route(
            "/accounts/{name}/members",
            web::post().to(api::users::add_member),
        )
        .route(
            "/accounts/{name}/users/{username}/sessions",
            web::delete().to(api::users::revoke_sessions),
        )
        .route(
            "/accounts/{name}/domains",
            web::post().to(api::domains::add),
        )
        .route(
            "/accounts/{name}/domains",
            web::get().to(api::domains::list),
        )
        .route(
            "/accounts/{name}/domains/{domain}/verify",
            web::post().to(api::domains::verify),
        )
        .route(
            "/accounts/{name}/sso",
            web::put().to(api::accounts::put_sso),
        )
        .route(
            "/accounts/{name}/sso",
            web::get().to(api::accounts::get_sso),
        )
        .route(
            "/accounts/{name}/audit",
            web::get().to(api::accounts::audit),
        )
        .route(
            "/accounts/{name}/connections",
            web::post().to(api::entra::create_connection),
        )
        .route(
            "/accounts/{name}/entra/tenants",
            web::post().to(api::entra::approve_tenant),
        )
        .route(
            "/accounts/{name}/entra/tenants",
            web::get().to(api::entra::list_tenants),
        )
        .route(
            "/accounts/{name}/entra/tenants/{tenant_id}/check",
            web::post().to(api::entra::check_tenant),
        )
        .route("/oidc/clients", web::post().to(api::oidc_clients::create))
        .route("/oidc/clients", web::get().to(api::oidc_clients::list))
        .route(
            "/oidc/clients/{client_id}",
            web::get().to(api::oidc_clients::get),
        )
        .route(
            "/oidc/clients/{client_id}",
            web::put().to(api::oidc_clients::update),
        )
        .route(
            "/oidc/clients/{client_id}",
            web::delete().to(api::oidc_clients::delete),
        )
        .route(
            "/oidc/clients/{client_id}/secret",
            web::post().to(api::oidc_clients::rotate_secret),
        )
}
