//! The command line (SPEC §6.1), run as a real process against the test's database.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{run_cli, spawn_app, stderr_of};

#[tokio::test]
async fn api_token_create_prints_a_working_token_alone_on_the_last_line() {
    let app = spawn_app().await;
    let out = run_cli(&app, &["api-token", "create", "--name", "ops"], None, &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.lines().last().unwrap();
    assert!(
        token.starts_with("ssob_") && !token.contains(' '),
        "{stdout}"
    );
    let res = app
        .client
        .post(app.url("/api/v1/accounts"))
        .bearer_auth(token)
        .json(&json!({"name": "made-by-ops"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn account_and_user_create_with_password_from_stdin() {
    let app = spawn_app().await;
    let out = run_cli(
        &app,
        &["account", "create", "--name", "cli-acct"],
        None,
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args = [
        "user",
        "create",
        "--account",
        "cli-acct",
        "--email",
        "u@cli.example.com",
        "--role",
        "admin",
        "--password-stdin",
    ];
    let out = run_cli(&app, &args, Some("a long cli password\n"), &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        app.sign_in("u@cli.example.com", "a long cli password")
            .await
            .status(),
        303
    );
    let me: serde_json::Value = app.me().await.json().await.unwrap();
    assert_eq!(me["account"], "cli-acct");
    assert_eq!(me["role"], "admin");
    let events = app.audit("cli-acct").await;
    assert!(events
        .iter()
        .any(|e| e["action"] == "user.create" && e["actor"] == "cli"));
}

#[tokio::test]
async fn cli_errors_are_clear_and_exit_non_zero() {
    let app = spawn_app().await;
    app.create_account("acme").await;
    let out = run_cli(&app, &["account", "create", "--name", "acme"], None, &[]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("An account with this name exists already.")
    );
    let out = run_cli(&app, &["migrate"], None, &[("SSO_BROKER_BIND", "nonsense")]).await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SSO_BROKER_BIND"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The failed commands changed nothing: the account list is as before.
    let res = app
        .api(
            Method::POST,
            "/api/v1/accounts",
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn sso_disable_enforcement_lets_password_users_in_during_an_idp_outage() {
    let app = spawn_app().await;
    app.with_user().await;
    let res = app
        .put_sso("acme", crate::helpers::sso_settings(true, true))
        .await;
    assert_eq!(res.status(), 200);
    let res = app
        .sign_in("ada@acme.example.com", crate::helpers::PASSWORD)
        .await;
    assert_eq!(res.status(), 403, "enforced");
    let out = run_cli(
        &app,
        &["sso", "disable-enforcement", "--account", "acme"],
        None,
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("SSO enforcement is off"));
    let res = app
        .sign_in("ada@acme.example.com", crate::helpers::PASSWORD)
        .await;
    assert_eq!(res.status(), 303, "password login works again");
    let settings: serde_json::Value = app
        .api(Method::GET, "/api/v1/accounts/acme/sso", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["enabled"], true, "SSO itself stays on");
    assert_eq!(settings["enforced"], false);
    assert!(app
        .audit("acme")
        .await
        .iter()
        .any(|e| e["action"] == "sso.disable_enforcement" && e["actor"] == "cli"));
    let out = run_cli(
        &app,
        &["sso", "disable-enforcement", "--account", "nope"],
        None,
        &[],
    )
    .await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn api_token_list_shows_names_and_use_and_revoke_takes_effect_at_once() {
    let app = spawn_app().await;
    let out = run_cli(&app, &["api-token", "create", "--name", "ops"], None, &[]).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let token = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_string();
    let call = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/api/v1/accounts/nope/audit"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(call(token.clone()).await, 404, "the token works");

    let out = run_cli(&app, &["api-token", "list"], None, &[]).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let listing = String::from_utf8(out.stdout).unwrap();
    let ops = listing.lines().find(|l| l.starts_with("ops\t")).unwrap();
    assert!(
        ops.contains("created 20") && ops.contains("active"),
        "{listing}"
    );
    assert!(
        !ops.contains("last used never"),
        "the use is recorded: {listing}"
    );
    let tests = listing.lines().find(|l| l.starts_with("tests\t")).unwrap();
    assert!(tests.contains("last used never"), "{listing}");
    let hash = sso_broker::crypto::tokens::sha256_hex(&token);
    for secret in [&token, &hash, &app.api_token] {
        assert!(!listing.contains(secret.as_str()), "{listing}");
    }
    assert!(!listing.contains("ssob_"), "{listing}");

    let out = run_cli(&app, &["api-token", "revoke", "--name", "ops"], None, &[]).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(call(token.clone()).await, 401, "refused at once");
    assert_eq!(call(app.api_token.clone()).await, 404, "other tokens work");
    let out = run_cli(&app, &["api-token", "list"], None, &[]).await;
    let listing = String::from_utf8(out.stdout).unwrap();
    let ops = listing.lines().find(|l| l.starts_with("ops\t")).unwrap();
    assert!(ops.contains("revoked 20"), "{listing}");

    for name in ["ops", "no-such-token"] {
        let out = run_cli(&app, &["api-token", "revoke", "--name", name], None, &[]).await;
        assert!(!out.status.success(), "revoking {name} must fail");
        assert!(
            stderr_of(&out).contains("No live API token has this name"),
            "{}",
            stderr_of(&out)
        );
    }
}

#[tokio::test]
async fn demo_refuses_a_non_loopback_bind_address() {
    let app = spawn_app().await;
    let out = run_cli(&app, &["demo"], None, &[("SSO_BROKER_BIND", "0.0.0.0:0")]).await;
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("SSO_BROKER_BIND: demo listens only on a loopback address"),
        "{err}"
    );
    assert!(
        app.api(Method::GET, "/api/v1/accounts/demo/audit", None)
            .await
            .status()
            == 404,
        "nothing seeded"
    );
}

#[tokio::test]
async fn demo_refuses_a_database_with_real_accounts() {
    let app = spawn_app().await;
    app.with_user().await;
    let out = run_cli(&app, &["demo"], None, &[("SSO_BROKER_BIND", "127.0.0.1:0")]).await;
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "demo refuses this database: it holds accounts that are not demo accounts (acme)"
        ),
        "{err}"
    );
    assert_eq!(
        app.api(Method::GET, "/api/v1/accounts/demo/audit", None)
            .await
            .status(),
        404,
        "nothing seeded"
    );
    assert_eq!(
        app.sign_in("demo-admin", sso_broker::demo::DEMO_PASSWORD)
            .await
            .status(),
        401
    );
}
