//! Outbox delivery as `.eml` files when no SMTP server is configured.

use std::time::Duration;

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn turning_on_totp_sends_a_notice_to_the_outbox_directory() {
    let app = spawn_app().await;
    app.with_user().await;
    app.sign_in("ada", PASSWORD).await;
    app.enroll_totp().await;
    let outbox = app.data_dir.join("outbox");
    let mut found = None;
    for _ in 0..100 {
        let files: Vec<_> = std::fs::read_dir(&outbox)
            .unwrap()
            .filter_map(Result::ok)
            .collect();
        if let Some(file) = files
            .iter()
            .find(|f| f.path().extension().is_some_and(|e| e == "eml"))
        {
            found = Some(std::fs::read_to_string(file.path()).unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let eml = found.expect("an .eml file in the outbox");
    assert!(eml.contains("To: ada@acme.example.com"), "{eml}");
    assert!(
        eml.contains("Subject: Two-step verification is on"),
        "{eml}"
    );
}
