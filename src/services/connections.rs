//! An account's identity-provider connections (SPEC §2 Connection, §6.3 `connections`).

use super::accounts::find_account;
use super::audit::{self, Audit, Outcome, RequestMeta};
use super::{entra, ServiceError};
use crate::db::connection::{IdpConnection, KIND_ENTRA};
use crate::AppState;

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub kind: String,
}

/// Adds the account's Entra connection (one per account; tenants are approved separately).
pub async fn create(
    state: &AppState,
    account: String,
    kind: &str,
    actor: String,
    meta: RequestMeta,
) -> Result<ConnectionView, ServiceError> {
    match kind {
        KIND_ENTRA => {
            entra::runtime(state)?;
        }
        "saml" => {
            return Err(ServiceError::Unprocessable {
                code: "unsupported_kind",
                message: "SAML connections are not available in this release.".into(),
            })
        }
        _ => {
            return Err(ServiceError::Unprocessable {
                code: "invalid_kind",
                message: "kind must be \"entra\" or \"saml\".".into(),
            })
        }
    }
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            diesel::Connection::transaction(conn, |conn| {
                let account = find_account(conn, &account)?;
                if IdpConnection::find_kind(conn, &account.id, KIND_ENTRA)?.is_some() {
                    return Err(ServiceError::Conflict {
                        code: "connection_exists",
                        message: "This account has an Entra connection already.",
                    });
                }
                let row = IdpConnection {
                    id: uuid::Uuid::new_v4().to_string(),
                    account_id: account.id.clone(),
                    kind: KIND_ENTRA.into(),
                    settings: "{}".into(),
                    created_at: now,
                };
                row.insert(conn)?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account.id),
                        action: "connection.create",
                        outcome: Outcome::Success,
                        reason: Some("kind=entra"),
                    },
                )?;
                Ok(ConnectionView {
                    id: row.id,
                    kind: row.kind,
                })
            })
        })
        .await
}
