//! Against a real Redis: `SSO_BROKER_TEST_REDIS_URL=redis://127.0.0.1:6379` (skipped when
//! unset, like the suite's Redis run).

use std::sync::Arc;

use super::*;

async fn store() -> Option<BrokerSessionStore> {
    let url = std::env::var("SSO_BROKER_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let prefix = format!("ssob-test-{}", uuid::Uuid::new_v4().simple());
    let clock: SharedClock = Arc::new(crate::clock::SystemClock);
    Some(
        BrokerSessionStore::redis(&url, &prefix, clock)
            .await
            .expect("Redis reachable at SSO_BROKER_TEST_REDIS_URL"),
    )
}

fn signed_in(user_id: &str) -> State {
    HashMap::from([
        (
            AUTH_ENTRY.to_string(),
            serde_json::json!({ "user_id": user_id }).to_string(),
        ),
        ("counter".to_string(), "0".to_string()),
    ])
}

fn copy(key: &SessionKey) -> SessionKey {
    SessionKey::try_from(key.as_ref().to_string()).unwrap()
}

const TTL: CookieDuration = CookieDuration::minutes(30);

/// A request loads the session, an admin revokes it, the request ends and writes the state
/// it loaded: the session stays revoked. Run many times with the write and the revocation
/// racing, since a read-check-write in separate commands loses only inside that window.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_session_stays_revoked_when_a_request_writes_it_back() {
    let Some(store) = store().await else { return };
    let user = "user-1";
    for round in 0..300 {
        let key = store.save(signed_in(user), &TTL).await.unwrap();
        let loaded = store.load(&key).await.unwrap().unwrap();
        assert!(!loaded.contains_key(EXPIRED_MARKER));
        let mut written = loaded.clone();
        written.insert("counter".into(), round.to_string());
        let (writer, revoker) = (store.clone(), store.clone());
        let k = copy(&key);
        let update = tokio::spawn(async move { writer.update(k, written, &TTL).await });
        let revoke = tokio::spawn(async move { revoker.revoke_user_sessions(user).await });
        update.await.unwrap().unwrap();
        revoke.await.unwrap().unwrap();
        // A later touch (actix-session's TTL refresh) does not bring it back either.
        store.update_ttl(&key, &TTL).await.unwrap();
        let after = store.load(&key).await.unwrap().unwrap();
        assert_eq!(after, expired_state(), "round {round}: revived");
    }
}

#[tokio::test]
async fn writes_touches_and_revocations_keep_the_record_readable() {
    let Some(store) = store().await else { return };
    let key = store.save(signed_in("u-2"), &TTL).await.unwrap();
    let mut state = signed_in("u-2");
    state.insert("counter".into(), "7".into());
    store.update(copy(&key), state.clone(), &TTL).await.unwrap();
    store.update_ttl(&key, &TTL).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(state.clone()));
    let other = store.save(signed_in("u-2"), &TTL).await.unwrap();
    assert_eq!(store.revoke_user_sessions("u-2").await.unwrap(), 2);
    assert_eq!(store.revoke_user_sessions("u-2").await.unwrap(), 0);
    for k in [&key, &other] {
        assert_eq!(store.load(k).await.unwrap(), Some(expired_state()));
    }
    // Neither an update nor a touch of a revoked session writes anything.
    store.update(copy(&key), state, &TTL).await.unwrap();
    store.update_ttl(&key, &TTL).await.unwrap();
    assert_eq!(store.load(&key).await.unwrap(), Some(expired_state()));
    let hash = sha256_hex(key.as_ref());
    let stored = store.read(hash).await.unwrap().unwrap();
    assert!(stored.revoked && stored.state.is_empty());
    assert_eq!(stored.user_id.as_deref(), Some("u-2"));
    // A new session after the revocation is live.
    let fresh = store.save(signed_in("u-2"), &TTL).await.unwrap();
    assert_eq!(store.load(&fresh).await.unwrap(), Some(signed_in("u-2")));
}
