//! Argon2 runs on a bounded pool (one job per core and a short queue): a sign-in that finds it
//! full is told to come back in a moment, and the refusal costs the user nothing.

use sso_broker::auth::password_pool::PoolError;
use sso_broker::domain::messages;

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn a_full_password_pool_answers_503_with_retry_after_and_counts_nothing() {
    let app = spawn_app().await;
    app.with_user().await;
    // More jobs than the pool admits, each holding its slot until released: once one is
    // refused, every slot is taken.
    let (release, gate) = tokio::sync::watch::channel(false);
    let (busy_tx, mut busy) = tokio::sync::mpsc::unbounded_channel();
    let holders: Vec<_> = (0..256)
        .map(|_| {
            let (pool, gate, busy_tx) =
                (app.state.passwords.clone(), gate.clone(), busy_tx.clone());
            tokio::spawn(async move {
                let held = pool
                    .run(move || {
                        while !*gate.borrow() {
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                    })
                    .await;
                if matches!(held, Err(PoolError::Busy)) {
                    let _ = busy_tx.send(());
                }
            })
        })
        .collect();
    busy.recv().await.unwrap();

    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let html = res.text().await.unwrap();
    assert!(html.contains(messages::BUSY), "{html}");

    release.send(true).unwrap();
    for holder in holders {
        holder.await.unwrap();
    }
    // Nothing was checked, so nothing counted: the same password signs in now.
    let res = app.sign_in("ada", PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert_eq!(app.me().await.status(), 200);
}
