//! Outbox delivery as `.eml` files when no SMTP server is configured, and the secrecy of queued
//! bodies (SPEC §3.8).

use crate::helpers::{delivered_mails, invite_from, outbox_rows, sign_in_admin, spawn_app};

#[tokio::test]
async fn turning_on_totp_sends_a_notice_to_the_outbox_directory() {
    let app = spawn_app().await;
    app.with_totp_user().await;
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
    sign_in_admin(&app, "acme", "alan").await;
    let res = invite_from(&app, &app.client, "nina@acme.example", "user").await;
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
