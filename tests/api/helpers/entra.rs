//! Microsoft Entra ID fixtures: a broker whose Entra authority and Graph are the development IdP
//! (a real OpenID peer on its own loopback port, signing ID tokens with its own key), its
//! tenants and users, connecting and approving a tenant, and playing the user at the IdP.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};
use sso_broker::clock::ManualClock;
use sso_broker::sso::devidp::{DevIdp, DevTenant, DevUser};

use super::app::test_start;
use super::{location, spawn_app_with, start_sso, TestApp};

pub const ENTRA_CLIENT_ID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
pub const CONTOSO: &str = "11111111-2222-4333-8444-555555555555";
pub const FABRIKAM: &str = "99999999-8888-4777-8666-555555555555";

/// A broker whose Entra authority and Graph are a development IdP on its own loopback port,
/// with tenant Contoso (consented, user ada) and Fabrikam (no consent).
pub async fn spawn_entra_app() -> (TestApp, Arc<DevIdp>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let authority = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let idp = Arc::new(DevIdp::new(&authority, ENTRA_CLIENT_ID, "dev-client-secret").unwrap());
    let user = |name: &str, domain: &str| DevUser {
        name: name.to_string(),
        ..dev_user(
            &uuid::Uuid::new_v4().to_string(),
            &format!("{name}@{domain}"),
        )
    };
    idp.add_tenant(
        CONTOSO,
        DevTenant {
            display_name: "Contoso".into(),
            verified_domains: vec!["contoso.example".into()],
            consented: true,
            users: vec![user("ada", "contoso.example")],
            graph_id_override: None,
        },
    );
    idp.add_tenant(
        FABRIKAM,
        DevTenant {
            display_name: "Fabrikam".into(),
            verified_domains: vec!["fabrikam.example".into()],
            consented: false,
            users: vec![user("eve", "fabrikam.example")],
            graph_id_override: None,
        },
    );
    let clock = Arc::new(ManualClock::new(test_start()));
    tokio::spawn(sso_broker::routes::devidp::serve(idp.clone(), clock, listener).unwrap());
    let app = spawn_app_with(|env| entra_env(env, &authority)).await;
    (app, idp)
}

pub fn entra_env(env: &mut HashMap<String, String>, authority: &str) {
    env.insert("SSO_BROKER_ENTRA_CLIENT_ID".into(), ENTRA_CLIENT_ID.into());
    env.insert(
        "SSO_BROKER_ENTRA_CLIENT_SECRET".into(),
        "dev-client-secret".into(),
    );
    env.insert("SSO_BROKER_ENTRA_AUTHORITY".into(), authority.into());
    env.insert("SSO_BROKER_GRAPH_URL".into(), authority.into());
    env.insert("SSO_BROKER_ENTRA_ALLOW_INSECURE_HTTP".into(), "1".into());
}

/// A directory user with a verified email and no directory role, named by the email's local part.
pub fn dev_user(oid: &str, email: &str) -> DevUser {
    DevUser {
        oid: oid.into(),
        email: email.into(),
        name: email.split('@').next().unwrap().into(),
        email_verified: true,
        wids: vec![],
    }
}

/// Adds a user with a fresh oid to a development tenant; returns the oid.
pub fn add_dev_user(
    idp: &DevIdp,
    tenant: &str,
    email: &str,
    name: &str,
    email_verified: bool,
) -> String {
    let oid = uuid::Uuid::new_v4().to_string();
    let user = DevUser {
        name: name.into(),
        email_verified,
        ..dev_user(&oid, email)
    };
    idp.update_tenant(tenant, |t| t.users.push(user));
    oid
}

/// The oid of the tenant's user with `email`.
pub fn oid_of(idp: &DevIdp, tenant: &str, email: &str) -> String {
    idp.tenant(tenant)
        .unwrap()
        .users
        .into_iter()
        .find(|u| u.email == email)
        .unwrap()
        .oid
}

/// `POST /api/v1/accounts/{account}/entra/tenants`: the consent proof against Graph.
pub async fn approve_tenant(app: &TestApp, account: &str, tenant: &str) -> reqwest::Response {
    app.api(
        Method::POST,
        &format!("/api/v1/accounts/{account}/entra/tenants"),
        Some(json!({ "tenant_id": tenant })),
    )
    .await
}

/// `POST /api/v1/accounts/{account}/entra/tenants/{tenant}/check`: the re-check.
pub async fn check_tenant(app: &TestApp, account: &str, tenant: &str) -> reqwest::Response {
    app.api(
        Method::POST,
        &format!("/api/v1/accounts/{account}/entra/tenants/{tenant}/check"),
        None,
    )
    .await
}

/// The account's approved tenants as the operator API lists them.
pub async fn entra_tenants(app: &TestApp, account: &str) -> Vec<Value> {
    let res = app
        .api(
            Method::GET,
            &format!("/api/v1/accounts/{account}/entra/tenants"),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Gives `account` its Entra connection and approves `tenant` for it (the consent proof runs
/// against the development IdP, so the tenant must have consented).
pub async fn connect_entra(app: &TestApp, account: &str, tenant: &str) {
    let res = app
        .api(
            Method::POST,
            &format!("/api/v1/accounts/{account}/connections"),
            Some(json!({ "kind": "entra" })),
        )
        .await;
    assert_eq!(res.status(), 201, "Entra connection for {account}");
    let res = approve_tenant(app, account, tenant).await;
    assert_eq!(res.status(), 201, "{tenant} approved for {account}");
}

/// Account `acme` connected to Contoso, with user `ada` (ada@contoso.example).
pub async fn contoso_account(app: &TestApp) {
    app.create_account("acme").await;
    app.enable_sso("acme").await;
    app.create_user("acme", "ada", "ada@contoso.example").await;
    connect_entra(app, "acme", CONTOSO).await;
}

/// Records `tenant` as approved for `account` straight in the database (for peers that are not
/// Microsoft Graph, or IdPs that are down; the consent proof has its own tests).
pub async fn approve_directly(app: &TestApp, account: &str, tenant: &str) {
    let (account, tenant) = (account.to_string(), tenant.to_string());
    let now = sso_broker::clock::Clock::now_naive(&app.clock);
    app.state
        .db
        .run(move |conn| {
            let account = sso_broker::db::account::Account::find_by_name(conn, &account)?.unwrap();
            sso_broker::db::approved_tenant::ApprovedTenant {
                id: uuid::Uuid::new_v4().to_string(),
                account_id: account.id,
                tenant_id: tenant,
                display_name: "Contoso".into(),
                verified_domains: "[\"contoso.example\"]".into(),
                status: "approved".into(),
                approved_at: now,
                last_checked_at: now,
            }
            .upsert(conn)
        })
        .await
        .unwrap();
}

/// Answers a development-IdP page: posts the page URL's query parameters plus `extra` to it, as
/// its forms do. Returns where the IdP sends the browser next.
pub async fn post_idp_form(page_url: &str, extra: &[(&str, &str)]) -> String {
    let url = url::Url::parse(page_url).unwrap();
    let mut form: HashMap<String, String> = url.query_pairs().into_owned().collect();
    for (k, v) in extra {
        form.insert(k.to_string(), v.to_string());
    }
    let mut target = url.clone();
    target.set_query(None);
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(target)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "{}",
        res.text().await.unwrap_or_default()
    );
    location(&res)
}

/// Plays the user at the IdP: picks `oid` (or cancels) on the authorize page. Returns the
/// callback URL the IdP sends the browser back to.
pub async fn at_idp(authorize_url: &str, choice: Result<&str, ()>) -> String {
    match choice {
        Ok(oid) => post_idp_form(authorize_url, &[("oid", oid)]).await,
        Err(()) => post_idp_form(authorize_url, &[("cancel", "1")]).await,
    }
}

/// Starts the flow of account `acme` for `email` and signs in at the IdP as `oid`; returns the
/// callback URL.
pub async fn flow_to_callback(app: &TestApp, email: &str, oid: &str) -> String {
    let res = start_sso(app, "acme", email).await;
    assert_eq!(res.status(), 303);
    at_idp(&location(&res), Ok(oid)).await
}
