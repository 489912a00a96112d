//! Faults of what the broker depends on (issue 13): Redis going away and coming back. Redis is
//! reached through a TCP proxy the test can cut, so the shared Redis server stays up for the
//! other tests. Runs on the Redis run (`make test-redis`); skipped elsewhere.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::helpers::{spawn_app_with, PASSWORD};

/// A TCP proxy to Redis that can be cut (every connection closed, new ones refused at once)
/// and restored.
struct CuttableProxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl CuttableProxy {
    async fn start(target: SocketAddr) -> CuttableProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown().await;
                    continue;
                }
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        CuttableProxy { addr, up, cut }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn redis_under_test() -> Option<SocketAddr> {
    let url = std::env::var("SSO_BROKER_TEST_REDIS_URL").ok()?;
    let url = url::Url::parse(&url).ok()?;
    let host = url.host_str()?.to_string();
    let port = url.port().unwrap_or(6379);
    std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .ok()?
        .next()
}

#[tokio::test]
async fn redis_going_away_fails_closed_with_a_clear_answer_and_the_broker_recovers() {
    let Some(redis) = redis_under_test() else {
        eprintln!("skipped: SSO_BROKER_TEST_REDIS_URL is not set");
        return;
    };
    let proxy = CuttableProxy::start(redis).await;
    let url = format!("redis://{}", proxy.addr);
    let app = spawn_app_with(move |env| {
        env.insert("SSO_BROKER_REDIS_URL".into(), url);
    })
    .await;
    app.with_user().await;
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 303);
    assert_eq!(app.me().await.status(), 200);

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // Signed-in requests fail closed: no answer from memory, no 500.
    let res = app.me().await;
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    eprintln!("/api/v1/me with Redis down: {status} {body}");
    assert_eq!(status, 503, "{body}");
    let res = app.get("/").await;
    let status = res.status().as_u16();
    let page = res.text().await.unwrap();
    assert_eq!(status, 503, "{page}");
    assert!(
        page.contains("Sign-in is temporarily unavailable"),
        "{page}"
    );
    assert_eq!(app.get("/readyz").await.status(), 503);

    proxy.restore();
    // The connection manager reconnects on its own; the session was never lost.
    let mut back = false;
    for _ in 0..100 {
        if app.me().await.status() == 200 {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        back,
        "the broker serves the session again once Redis is back"
    );
}
