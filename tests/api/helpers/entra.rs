//! Microsoft Entra ID fixtures: a broker whose Entra authority and Graph are the development IdP
//! (a real OpenID peer on its own loopback port, signing ID tokens with its own key), its
//! tenants, and answering the IdP's pages.

use std::collections::HashMap;
use std::sync::Arc;

use sso_broker::clock::ManualClock;
use sso_broker::sso::devidp::{DevIdp, DevTenant, DevUser};

use super::app::test_start;
use super::{location, spawn_app_with, TestApp};

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
        oid: uuid::Uuid::new_v4().to_string(),
        email: format!("{name}@{domain}"),
        name: name.to_string(),
        email_verified: true,
        wids: vec![],
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
