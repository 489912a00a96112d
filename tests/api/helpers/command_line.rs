//! The `sso-broker` binary run as a real process against the test's database and data folder.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use super::TestApp;

/// Runs `sso-broker ARGS` with the test's database, `stdin` piped in and `extra_env` set; its
/// output once it exits (or is killed after a minute).
pub async fn run_cli(
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
        // A command that should have refused to start (`demo`) must not hang the test: a guard
        // against a real process, so real time.
        #[allow(clippy::disallowed_methods)]
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        #[allow(clippy::disallowed_methods)]
        while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// The process's standard error, as text.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
