//! Domain claims and DNS TXT verification (SPEC §2 Domain) with the real resolver
//! (hickory-resolver) asking a small fake authoritative DNS server on loopback, whose records the
//! test changes; the admin page; one account per domain in the whole installation; discovery.

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
async fn a_domain_belongs_to_one_account_including_sub_accounts() {
    let (dns, _) = fake_dns().await;
    let app = app_with_dns(&dns).await;
    app.create_account("acme").await;
    app.create_account("globex").await;
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts",
            Some(json!({ "name": "acme-eu", "parent": "acme" })),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(claim(&app, "acme", "acme.example").await.status(), 201);
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
