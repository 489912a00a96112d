//! Outgoing email: messages go to the `outbox` table in the same transaction as the change they
//! announce; a worker delivers them by SMTP (`SSO_BROKER_SMTP_URL`) or as `.eml` files under
//! `<data dir>/outbox/`.
//!
//! # Security
//! A body that carries a secret (an invitation link, a temporary password) is stored sealed with
//! the installation key (`enqueue_secret`), and every body is erased once the message is sent
//! (SPEC §3.8 "Secrets handed out once stay secret"): a database dump or backup does not hand out
//! live links or passwords.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use lettre::message::Mailbox;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::crypto::{Keys, SecretBox};
use crate::db::outbox::OutboxMessage;
use crate::db::{Db, DbConnection, DbError};

/// Queues a notice whose body holds no secret (call inside the transaction of the change it
/// announces). The body is stored in clear until it is sent.
pub fn enqueue(
    conn: &mut DbConnection,
    to: &str,
    subject: &str,
    body: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    OutboxMessage::new(to, subject, body.to_string(), now).insert(conn)
}

/// Queues a message whose body carries a secret (an invitation link, a temporary password):
/// the body is stored sealed with the installation key and opened only to be sent.
pub fn enqueue_secret(
    conn: &mut DbConnection,
    secret_box: &SecretBox,
    to: &str,
    subject: &str,
    body: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    OutboxMessage::new(to, subject, OutboxMessage::seal_body(secret_box, body), now).insert(conn)
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

/// Delivers the outbox.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    wake: Arc<Notify>,
    /// Opens sealed bodies.
    keys: Arc<Keys>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailer")
    }
}

impl Mailer {
    pub fn new(settings: &Settings, keys: Arc<Keys>) -> anyhow::Result<Self> {
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())?.build(),
            ),
            None => {
                let dir = settings.outbox_dir();
                std::fs::create_dir_all(&dir)?;
                Transport::File(AsyncFileTransport::new(dir))
            }
        };
        Ok(Self {
            transport,
            from: settings.mail_from.parse()?,
            wake: Arc::new(Notify::new()),
            keys,
        })
    }

    /// Asks the worker to deliver now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    async fn send(&self, message: &OutboxMessage) -> anyhow::Result<()> {
        let body = message.open_body(&self.keys.secret_box)?;
        let email = Message::builder()
            .from(self.from.clone())
            .to(message.to_address.parse()?)
            // Names the outbox row, so a delivered message can be traced back to it.
            .message_id(Some(format!("<{}@sso-broker.outbox>", message.id)))
            .subject(&message.subject)
            .body(body)?;
        match &self.transport {
            Transport::Smtp(t) => {
                t.send(email).await?;
            }
            Transport::File(t) => {
                t.send(email).await?;
            }
        }
        Ok(())
    }

    /// Delivers what is pending; returns how many were sent. A sent message's body is erased.
    pub async fn deliver_pending(&self, db: &Db, clock: &SharedClock) -> Result<usize, DbError> {
        let pending = db.run(|conn| OutboxMessage::pending(conn, 50)).await?;
        let mut sent = 0;
        for message in pending {
            let id = message.id.clone();
            match self.send(&message).await {
                Ok(()) => {
                    let now = clock.now_naive();
                    db.run(move |conn| OutboxMessage::mark_sent(conn, &id, now))
                        .await?;
                    sent += 1;
                }
                Err(e) => {
                    log::warn!("outbox message {id} not delivered: {e}");
                    let error = e.to_string();
                    db.run(move |conn| OutboxMessage::mark_failed(conn, &id, &error))
                        .await?;
                }
            }
        }
        Ok(sent)
    }

    /// Runs the delivery loop: on every wake-up and at least every 30 seconds.
    pub fn spawn_worker(self, db: Db, clock: SharedClock) {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.deliver_pending(&db, &clock).await {
                    log::warn!("outbox delivery failed: {e}");
                }
                let _ = tokio::time::timeout(Duration::from_secs(30), self.wake.notified()).await;
            }
        });
    }
}
