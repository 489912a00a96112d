//! Argon2 and SAML signature checks run on bounded pools (one job per core and a short queue):
//! a sign-in that finds its pool full is told to come back in a moment, and the refusal costs
//! the user nothing.

use sso_broker::domain::messages;
use sso_broker::work_pool::{Reservation, WorkPool};

use crate::helpers::{
    location, spawn_app, spawn_saml_app, sso_reasons, PASSWORD, SAML_ACCOUNT, SAML_EMAIL,
};

/// Every free place in `pool`, as taken by requests in flight (the pool must be bounded far
/// below a million places).
fn take_free(pool: &WorkPool) -> Vec<Reservation> {
    let mut places = Vec::new();
    while let Ok(place) = pool.reserve() {
        places.push(place);
        assert!(places.len() < 1_000_000, "the pool is bounded");
    }
    places
}

#[tokio::test]
async fn a_full_password_pool_answers_503_with_retry_after_and_counts_nothing() {
    let app = spawn_app().await;
    app.with_user().await;
    // Every place in the pool taken (as by logins in flight).
    let pool = &app.state.passwords;
    let mut places = take_free(pool);
    assert!(
        places.len() < 1_000,
        "a short queue: {} places",
        places.len()
    );
    // The broker's own warm-up job (the dummy hash) may still hold a place: take it too once
    // it is done.
    for _ in 0..30 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        places.extend(std::iter::from_fn(|| pool.reserve().ok()));
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

#[tokio::test]
async fn a_full_saml_check_pool_answers_503_and_the_same_response_signs_in_after() {
    let saml = spawn_saml_app(false).await;
    let (request_id, relay_state) = saml.start(SAML_EMAIL).await;
    let spec = saml.response(Some(&request_id), SAML_EMAIL);
    let audited = sso_reasons(&saml.app, SAML_ACCOUNT).await;
    // Every place taken, as by a flood of responses at the ACS.
    let places = take_free(&saml.app.state.saml_checks);

    let res = saml.post(&spec, Some(&relay_state)).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let html = res.text().await.unwrap();
    assert!(html.contains(messages::BUSY), "{html}");
    assert_eq!(saml.app.me().await.status(), 401, "no session");
    assert_eq!(
        sso_reasons(&saml.app, SAML_ACCOUNT).await,
        audited,
        "a refusal before any check is no failed attempt"
    );

    drop(places);
    // The flow was not spent and the assertion not recorded: posting it again signs in.
    let res = saml.post(&spec, Some(&relay_state)).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/");
    assert_eq!(saml.app.me().await.status(), 200);
}

#[tokio::test]
async fn a_throttled_address_is_refused_at_the_acs_without_taking_a_check_place() {
    let saml = spawn_saml_app(true).await;
    for _ in 0..30 {
        let res = saml
            .app
            .post_form(&saml.acs_path(), &[("SAMLResponse", "bm90IFhNTA==")])
            .await;
        assert_eq!(res.status(), 401);
    }
    let places = take_free(&saml.app.state.saml_checks);
    // The address is over its SSO budget: it is told so, not that the broker is busy, and its
    // flood does not need a place in the pool to be refused.
    let res = saml.post(&saml.response(None, SAML_EMAIL), None).await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains(messages::THROTTLED));
    drop(places);
}
