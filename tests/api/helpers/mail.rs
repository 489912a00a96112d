//! Mail the broker sends: the outbox rows, and the delivered `.eml` files (no SMTP server is
//! configured in tests) read back, including the invitation links in them.

use std::time::Duration;

use diesel::prelude::*;
use sso_broker::db::outbox::OutboxMessage;
use sso_broker::db::schema::outbox;

use super::TestApp;

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

/// The invitation link in the newest email to `to`.
pub async fn invitation_link(app: &TestApp, to: &str) -> String {
    let mails = delivered_mails(app).await;
    let body = &mails
        .iter()
        .rev()
        .find(|m| m.to == to)
        .expect("an invitation email")
        .body;
    let start = body.find("/invite/").unwrap();
    body[start..].split_whitespace().next().unwrap().to_string()
}
