//! Malformed, oversized and hostile input gets a clear answer and no 500.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::{spawn_app, PASSWORD};

#[tokio::test]
async fn malformed_json_is_a_400_with_a_code() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&app.api_token)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_body");
}

#[tokio::test]
async fn unknown_fields_and_wrong_types_are_refused() {
    let app = spawn_app().await;
    for body in [
        serde_json::json!({"name": "acme", "colour": "red"}),
        serde_json::json!({"name": 42}),
    ] {
        let res = app.api(Method::POST, "/api/v1/accounts", Some(body)).await;
        assert_eq!(res.status(), 400);
    }
}

#[tokio::test]
async fn json_with_the_wrong_content_type_is_415() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&app.api_token)
        .body("{\"name\":\"acme\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app().await;
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(100 * 1024));
    let res = app
        .client
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(&app.api_token)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "payload_too_large"
    );
    let form_big = "a".repeat(20 * 1024);
    let res = app
        .post_form(
            "/login",
            &[("username", form_big.as_str()), ("password", "x")],
        )
        .await;
    assert_eq!(res.status(), 413);
    assert!(res.text().await.unwrap().contains("too large"));
}

#[tokio::test]
async fn a_form_posted_as_json_is_a_clear_415() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("application/x-www-form-urlencoded"));
}

#[tokio::test]
async fn a_huge_password_is_refused_without_hashing_it() {
    let app = spawn_app().await;
    app.with_user().await;
    let huge = "p".repeat(8 * 1024);
    let res = app.sign_in("ada", &huge).await;
    assert_eq!(res.status(), 401);
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn html_in_input_is_escaped_on_the_page() {
    let app = spawn_app().await;
    let res = app
        .submit(
            "/login",
            "/login",
            &[
                ("username", "<script>alert(1)</script>"),
                ("password", "whatever1234"),
            ],
        )
        .await;
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    // The typed name comes back escaped (askama writes `<` as `&#60;`).
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
}
