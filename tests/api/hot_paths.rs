//! Read paths that must not write on every call (issue 13): an operator API call records its
//! token's use at most once a minute.

use chrono::Duration;
use reqwest::Method;

use crate::helpers::spawn_app;

async fn last_used(app: &crate::helpers::TestApp) -> Option<chrono::NaiveDateTime> {
    app.state
        .db
        .run(sso_broker::db::api_token::ApiToken::list)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.revoked_at.is_none())
        .and_then(|t| t.last_used_at)
}

#[tokio::test]
async fn an_api_token_records_its_use_at_most_once_a_minute() {
    let app = spawn_app().await;
    assert_eq!(
        app.api(Method::GET, "/api/v1/accounts/none", None)
            .await
            .status(),
        404
    );
    let first = last_used(&app).await.expect("the first use is recorded");

    app.clock.advance(Duration::seconds(30));
    assert_eq!(
        app.api(Method::GET, "/api/v1/accounts/none", None)
            .await
            .status(),
        404
    );
    assert_eq!(
        last_used(&app).await,
        Some(first),
        "no write within the minute"
    );

    app.clock.advance(Duration::seconds(31));
    assert_eq!(
        app.api(Method::GET, "/api/v1/accounts/none", None)
            .await
            .status(),
        404
    );
    let later = last_used(&app).await.unwrap();
    assert_eq!(later - first, Duration::seconds(61));
}
