//! Argon2 runs on a bounded pool (one job per core and a short queue): a sign-in that finds it
//! full is told to come back in a moment, and the refusal costs the user nothing.

use sso_broker::domain::messages;

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn a_full_password_pool_answers_503_with_retry_after_and_counts_nothing() {
    let app = spawn_app().await;
    app.with_user().await;
    // Every place in the pool taken (as by logins in flight).
    let take_free = || std::iter::from_fn(|| app.state.passwords.reserve().ok()).take(10_000);
    let mut places: Vec<_> = take_free().collect();
    assert!(
        !places.is_empty() && places.len() < 10_000,
        "the pool is bounded"
    );
    // The broker's own warm-up job (the dummy hash) may still hold a place: take it too once
    // it is done.
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        places.extend(take_free());
    }

    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let html = res.text().await.unwrap();
    assert!(html.contains(messages::BUSY), "{html}");

    drop(places);
    // Nothing was checked, so nothing counted: the same password signs in now.
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.me().await.status(), 200);
}
