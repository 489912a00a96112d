//! Domain claims and DNS TXT verification (SPEC §2 Domain) with the real resolver
//! (hickory-resolver) asking a small fake authoritative DNS server on loopback, whose records the
//! test changes; the admin page; one verified account per domain in the whole installation, pending
//! claims that neither block nor outlive 7 days (issue 10, squatting); discovery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::UdpSocket;

use crate::helpers::{spawn_app_with, TestApp, PASSWORD};

type Records = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// Reads a question name starting at `pos`; returns it lowercased and the position after it.
fn read_name(packet: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = *packet.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(packet.get(pos..pos + len)?).to_ascii_lowercase());
        pos += len;
    }
    Some((labels.join("."), pos))
}

/// The answer to one query: TXT records from `records`, NXDOMAIN for unknown names.
fn answer(query: &[u8], records: &Records) -> Option<Vec<u8>> {
    let (name, end) = read_name(query, 12)?;
    let qtype = u16::from_be_bytes([*query.get(end)?, *query.get(end + 1)?]);
    let question = query.get(12..end + 4)?;
    let found = records.lock().unwrap().get(&name).cloned();
    let txts = match (&found, qtype) {
        (Some(t), 16) => t.clone(),
        _ => Vec::new(),
    };
    let rcode: u16 = if found.is_none() { 3 } else { 0 };
    let mut out = Vec::new();
    out.extend_from_slice(&query[0..2]);
    out.extend_from_slice(&(0x8400u16 | (u16::from(query[2] & 1) << 8) | rcode).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(txts.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for txt in txts {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60]);
        let mut rdata = Vec::new();
        for chunk in txt.as_bytes().chunks(255) {
            rdata.push(chunk.len() as u8);
            rdata.extend_from_slice(chunk);
        }
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    Some(out)
}

/// Starts the fake DNS server; its address and its record map.
async fn fake_dns() -> (String, Records) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    let records: Records = Arc::default();
    let served = records.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
            if let Some(reply) = answer(&buf[..n], &served) {
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    });
    (addr, records)
}

async fn app_with_dns(server: &str) -> TestApp {
    let server = server.to_string();
    spawn_app_with(move |env| {
        env.insert("SSO_BROKER_DNS_SERVERS".into(), server);
        env.insert("SSO_BROKER_DNS_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await
}

async fn claim(app: &TestApp, account: &str, domain: &str) -> reqwest::Response {
    app.api(
        Method::POST,
        &format!("/api/v1/accounts/{account}/domains"),
        Some(json!({ "domain": domain })),
    )
    .await
}

async fn claim_verified(app: &TestApp, account: &str, domain: &str) -> reqwest::Response {
    app.api(
        Method::POST,
        &format!("/api/v1/accounts/{account}/domains"),
        Some(json!({ "domain": domain, "verified": true })),
    )
    .await
}

async fn domains_of(app: &TestApp, account: &str) -> Vec<Value> {
    app.api(
        Method::GET,
        &format!("/api/v1/accounts/{account}/domains"),
        None,
    )
    .await
    .json()
    .await
    .unwrap()
}

async fn error_of(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

async fn verify(app: &TestApp, account: &str, domain: &str) -> (u16, Value) {
    let res = app
        .api(
            Method::POST,
            &format!("/api/v1/accounts/{account}/domains/{domain}/verify"),
            None,
        )
        .await;
    (res.status().as_u16(), res.json().await.unwrap())
}

fn verify_reasons(audit: &[Value]) -> Vec<String> {
    audit
        .iter()
        .filter(|e| e["action"] == "domain.verify")
        .filter_map(|e| e["reason"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_domain_is_verified_only_by_its_exact_txt_record() {
    let (dns, records) = fake_dns().await;
    let app = app_with_dns(&dns).await;
    app.create_account("acme").await;
    let res = claim(&app, "acme", "Acme.Example").await;
    assert_eq!(res.status(), 201);
    let claimed: Value = res.json().await.unwrap();
    assert_eq!(
        claimed["verification_record"],
        "_sso-broker-verification.acme.example"
    );
    assert_eq!(claimed["verified"], false);
    let token = claimed["verification_value"].as_str().unwrap().to_string();
    let name = "_sso-broker-verification.acme.example".to_string();

    let (status, body) = verify(&app, "acme", "acme.example").await;
    assert_eq!(
        (status, body["result"].as_str()),
        (200, Some("txt_missing"))
    );
    assert_eq!(body["verified"], false);

    records.lock().unwrap().insert(
        name.clone(),
        vec!["v=spf1 -all".into(), format!("{token}x")],
    );
    let (_, body) = verify(&app, "acme", "acme.example").await;
    assert_eq!(body["result"], "txt_mismatch");

    // The right value, published beside other records.
    records
        .lock()
        .unwrap()
        .insert(name, vec!["v=spf1 -all".into(), token.clone()]);
    let (status, body) = verify(&app, "acme", "acme.example").await;
    assert_eq!(status, 200);
    assert_eq!(body["result"], "verified");
    assert_eq!(body["verified"], true);
    let reasons = verify_reasons(&app.audit("acme").await);
    for expected in ["txt_missing", "txt_mismatch"] {
        assert!(
            reasons.iter().any(|r| r.starts_with(expected)),
            "{expected} in {reasons:?}"
        );
    }
    assert!(reasons.iter().any(|r| r == "domain=acme.example"));
}

#[tokio::test]
async fn a_dns_server_that_does_not_answer_gets_a_clear_502() {
    // A socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let app = app_with_dns(&silent.local_addr().unwrap().to_string()).await;
    app.create_account("acme").await;
    claim(&app, "acme", "acme.example").await;
    let (status, body) = verify(&app, "acme", "acme.example").await;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "dns_unreachable");
    assert_eq!(
        body["message"],
        "Could not reach DNS. Try again in a few minutes."
    );
    assert!(verify_reasons(&app.audit("acme").await)
        .iter()
        .any(|r| r.starts_with("dns_unreachable")));
    drop(silent);
}

#[tokio::test]
async fn a_verified_domain_belongs_to_one_account_including_sub_accounts() {
    let (dns, _) = fake_dns().await;
    let app = app_with_dns(&dns).await;
    app.create_account("acme").await;
    app.create_account("globex").await;
    app.create_sub_account("acme-eu", "acme").await;
    assert_eq!(
        claim_verified(&app, "acme", "acme.example").await.status(),
        201
    );
    for other in ["globex", "acme-eu"] {
        let res = claim(&app, other, "ACME.example.").await;
        assert_eq!(res.status(), 409, "{other}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "domain_taken");
    }
}

#[tokio::test]
async fn an_admin_claims_and_verifies_a_domain_on_the_page() {
    let (dns, records) = fake_dns().await;
    let app = app_with_dns(&dns).await;
    app.create_account("acme").await;
    let body = json!({ "email": "alan@acme.example", "username": "alan", "role": "admin", "password": PASSWORD });
    app.api(Method::POST, "/api/v1/accounts/acme/users", Some(body))
        .await;
    let body = json!({ "email": "uma@acme.example", "username": "uma", "role": "user", "password": PASSWORD });
    app.api(Method::POST, "/api/v1/accounts/acme/users", Some(body))
        .await;
    assert_eq!(app.sign_in("alan", PASSWORD).await.status(), 303);
    let res = app
        .submit(
            "/admin/domains",
            "/admin/domains",
            &[("domain", "not a domain")],
        )
        .await;
    assert_eq!(res.status(), 422);
    let res = app
        .submit(
            "/admin/domains",
            "/admin/domains",
            &[("domain", "acme.example")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let html = app.get_html("/admin/domains").await;
    assert!(html.contains("_sso-broker-verification.acme.example"));
    assert!(
        html.contains("Claim expires 2026-11-29T10:00:00Z unless verified"),
        "the pending claim's expiry on the page"
    );
    let token = html
        .split("sso-broker-verification=")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .map(|t| format!("sso-broker-verification={t}"))
        .expect("the TXT value on the page");
    records
        .lock()
        .unwrap()
        .insert("_sso-broker-verification.acme.example".into(), vec![token]);
    let res = app
        .submit(
            "/admin/domains",
            "/admin/domains/verify",
            &[("domain", "acme.example")],
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("The domain is verified."));
    // A plain user cannot reach the page, and a form without its CSRF token is refused.
    let uma = app.new_browser();
    app.sign_in_from(&uma, "uma", PASSWORD, &[]).await;
    assert_eq!(
        uma.get(app.url("/admin/domains"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let res = app
        .post_form("/admin/domains/remove", &[("domain", "acme.example")])
        .await;
    assert_eq!(res.status(), 403);
    let list: Value = app
        .api(Method::GET, "/api/v1/accounts/acme/domains", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["verified"], true, "still there, verified");
}

#[tokio::test]
async fn another_accounts_pending_claim_does_not_block_a_claim() {
    let (dns, _) = fake_dns().await;
    let app = app_with_dns(&dns).await;
    for name in ["acme", "globex"] {
        app.create_account(name).await;
    }
    assert_eq!(claim(&app, "globex", "acme.example").await.status(), 201);
    assert_eq!(claim(&app, "acme", "acme.example").await.status(), 201);
    // An account's own live claim still counts for itself.
    assert_eq!(
        error_of(claim(&app, "acme", "acme.example").await).await,
        (409, "domain_taken".to_string())
    );
    for name in ["acme", "globex"] {
        let list = domains_of(&app, name).await;
        assert_eq!(list.len(), 1, "{name}");
        assert_eq!(list[0]["verified"], false);
        assert_eq!(list[0]["expires_at"], "2026-11-29T10:00:00Z");
    }
}

#[tokio::test]
async fn the_first_account_to_verify_wins_and_the_other_pending_claims_go() {
    let (dns, records) = fake_dns().await;
    let app = app_with_dns(&dns).await;
    for name in ["acme", "globex", "initech"] {
        app.create_account(name).await;
    }
    let mut tokens = HashMap::new();
    for name in ["acme", "globex", "initech"] {
        let res = claim(&app, name, "acme.example").await;
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        tokens.insert(
            name,
            body["verification_value"].as_str().unwrap().to_string(),
        );
    }
    // Both acme's and the squatter's records are published; the squatter verifies first.
    records.lock().unwrap().insert(
        "_sso-broker-verification.acme.example".into(),
        vec![tokens["globex"].clone(), tokens["acme"].clone()],
    );
    let (status, body) = verify(&app, "globex", "acme.example").await;
    assert_eq!((status, body["result"].as_str()), (200, Some("verified")));
    assert_eq!(body["expires_at"], Value::Null);
    assert!(verify_reasons(&app.audit("globex").await)
        .contains(&"domain=acme.example pending_claims_removed=2".to_string()));
    for loser in ["acme", "initech"] {
        assert!(domains_of(&app, loser).await.is_empty(), "{loser}");
        let (status, body) = verify(&app, loser, "acme.example").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (409, Some("domain_taken"))
        );
        assert_eq!(
            error_of(claim(&app, loser, "acme.example").await).await,
            (409, "domain_taken".to_string())
        );
    }
    // The operator marking a pending claim verified wins the same way.
    for name in ["acme", "initech"] {
        assert_eq!(claim(&app, name, "initech.example").await.status(), 201);
    }
    let res = claim_verified(&app, "initech", "initech.example").await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["verified"], true);
    assert!(domains_of(&app, "acme").await.is_empty());
}

#[tokio::test]
async fn verifying_a_domain_verified_by_another_account_is_refused() {
    let (dns, records) = fake_dns().await;
    let app = app_with_dns(&dns).await;
    for name in ["acme", "globex"] {
        app.create_account(name).await;
    }
    let res = claim(&app, "globex", "acme.example").await;
    let body: Value = res.json().await.unwrap();
    records.lock().unwrap().insert(
        "_sso-broker-verification.acme.example".into(),
        vec![body["verification_value"].as_str().unwrap().to_string()],
    );
    assert_eq!(
        claim_verified(&app, "acme", "acme.example").await.status(),
        201
    );
    // globex's pending claim went with acme's verification; its TXT record proves nothing now.
    let (status, body) = verify(&app, "globex", "acme.example").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("domain_taken"))
    );
    assert_eq!(
        error_of(claim_verified(&app, "globex", "acme.example").await).await,
        (409, "domain_taken".to_string())
    );
    let list = domains_of(&app, "acme").await;
    assert_eq!(list[0]["verified"], true);
}

#[tokio::test]
async fn a_pending_claim_expires_after_seven_days_and_then_no_longer_counts() {
    let (dns, records) = fake_dns().await;
    let app = app_with_dns(&dns).await;
    app.create_account("acme").await;
    let res = claim(&app, "acme", "acme.example").await;
    let body: Value = res.json().await.unwrap();
    let token = body["verification_value"].as_str().unwrap().to_string();
    assert_eq!(body["expires_at"], "2026-11-29T10:00:00Z");
    app.clock
        .advance(chrono::Duration::days(7) - chrono::Duration::seconds(1));
    assert_eq!(domains_of(&app, "acme").await.len(), 1, "still pending");

    app.clock.advance(chrono::Duration::seconds(1));
    assert!(domains_of(&app, "acme").await.is_empty());
    records
        .lock()
        .unwrap()
        .insert("_sso-broker-verification.acme.example".into(), vec![token]);
    let (status, body) = verify(&app, "acme", "acme.example").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("domain_not_found"))
    );
    // The lapsed claim is purged: the account may claim again, with a new token and a new week.
    let res = claim(&app, "acme", "acme.example").await;
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["expires_at"], "2026-12-06T10:00:00Z");
    let (_, body) = verify(&app, "acme", "acme.example").await;
    assert_eq!(
        body["result"], "txt_mismatch",
        "the old token does not verify"
    );
}
