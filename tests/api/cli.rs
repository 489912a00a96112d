//! The command line (SPEC §6.1), run as a real process against the test's database.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use reqwest::Method;
use serde_json::json;

use crate::helpers::{spawn_app, TestApp};

async fn run_cli(
    app: &TestApp,
    args: &[&str],
    stdin: Option<&str>,
    extra_env: &[(&str, &str)],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sso-broker"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("SSO_BROKER_DATA_DIR", &app.data_dir)
        .env("SSO_BROKER_DATABASE_URL", &app.database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let input = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = input {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

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
