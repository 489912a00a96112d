//! Outbox delivery as `.eml` files when no SMTP server is configured, and the secrecy of queued
//! bodies (SPEC §3.8).

use std::time::Duration;

use diesel::prelude::*;
use sso_broker::db::outbox::OutboxMessage;
use sso_broker::db::schema::outbox;

use crate::helpers::{csrf_from, spawn_app, TestApp, PASSWORD};

/// A delivered email, read back from its `.eml` file.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

/// The raw outbox rows, oldest first.
pub async fn outbox_rows(app: &TestApp) -> Vec<OutboxMessage> {
    app.state
        .db
        .run(|conn| {
            outbox::table
                .order(outbox::created_at.asc())
                .select(OutboxMessage::as_select())
                .load(conn)
                .map_err(sso_broker::db::DbError::from)
        })
        .await
        .unwrap()
}

/// Decodes a quoted-printable body (lettre's choice for long lines).
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn parse_eml(eml: &str) -> (String, Mail) {
    let (head, body) = eml.split_once("\r\n\r\n").unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_string()
    };
    let body = if header("Content-Transfer-Encoding") == "quoted-printable" {
        quoted_printable(body)
    } else {
        body.to_string()
    };
    (
        header("Message-ID"),
        Mail {
            to: header("To"),
            subject: header("Subject"),
            body: body.replace("\r\n", "\n"),
        },
    )
}

/// Every queued email, once the worker delivered it, oldest first.
pub async fn delivered_mails(app: &TestApp) -> Vec<Mail> {
    let mut rows = outbox_rows(app).await;
    for _ in 0..100 {
        if rows.iter().all(|r| r.sent_at.is_some()) {
            break;
        }
        app.state.mailer.wake();
        tokio::time::sleep(Duration::from_millis(100)).await;
        rows = outbox_rows(app).await;
    }
    let files: Vec<(String, Mail)> = std::fs::read_dir(app.data_dir.join("outbox"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|f| f.path().extension().is_some_and(|e| e == "eml"))
        .map(|f| parse_eml(&std::fs::read_to_string(f.path()).unwrap()))
        .collect();
    rows.iter()
        .map(|row| {
            let id = format!("<{}@sso-broker.outbox>", row.id);
            files
                .iter()
                .find(|(message_id, _)| *message_id == id)
                .unwrap_or_else(|| panic!("no .eml for outbox row {}", row.id))
                .1
                .clone()
        })
        .collect()
}

#[tokio::test]
async fn turning_on_totp_sends_a_notice_to_the_outbox_directory() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    app.enroll_totp().await;
    let mails = delivered_mails(&app).await;
    let mail = mails.last().expect("an .eml file in the outbox");
    assert_eq!(mail.to, "ada@acme.example.com");
    assert_eq!(mail.subject, "Two-step verification is on");
}

#[tokio::test]
async fn an_invitation_link_is_stored_sealed_and_erased_once_sent() {
    // The worker may deliver at any moment: the row is checked in whichever state it is in
    // (sealed while queued, empty once sent), and again once it is surely sent.
    let app = spawn_app().await;
    app.create_account("acme").await;
    let body = serde_json::json!({
        "email": "alan@acme.example", "username": "alan", "role": "admin", "password": PASSWORD,
    });
    let res = app
        .api(
            reqwest::Method::POST,
            "/api/v1/accounts/acme/users",
            Some(body),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(app.sign_in("alan", PASSWORD).await.status(), 303);
    let html = app.get_html("/admin/users").await;
    let res = app
        .client
        .post(app.url("/admin/users/invite"))
        .form(&[
            ("csrf_token", csrf_from(&html).as_str()),
            ("email", "nina@acme.example"),
            ("role", "user"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let row = outbox_rows(&app).await.pop().unwrap();
    assert!(!row.body_text.contains("/invite/"), "{}", row.body_text);
    if row.sent_at.is_none() {
        assert!(row.body_text.starts_with("sealed:v1."), "{}", row.body_text);
        let opened = row.open_body(&app.state.keys.secret_box).unwrap();
        assert!(opened.contains("/invite/"));
    }
    let mail = delivered_mails(&app).await.pop().unwrap();
    assert!(
        mail.body.contains("http://127.0.0.1:8080/invite/"),
        "{mail:?}"
    );
    let row = outbox_rows(&app).await.pop().unwrap();
    assert!(row.sent_at.is_some());
    assert_eq!(row.body_text, "", "the sent body is erased");
}
