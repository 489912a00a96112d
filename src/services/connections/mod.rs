//! An account's identity-provider connections (SPEC §2 Connection, §6.3 `connections`).

pub mod admin_consent;
pub mod entra_keys;
pub mod entra_tenants;
pub mod saml;

use crate::db::connection::{IdpConnection, KIND_ENTRA, KIND_SAML};
use crate::services::admin::accounts::{find_account, require_sso_available};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;
use saml::{SamlConnectionInput, SamlConnectionView};

#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub kind: String,
}

/// A new connection of either kind, as the API answers it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
pub enum CreatedConnection {
    Entra(ConnectionView),
    Saml(Box<SamlConnectionView>),
}

/// Adds the account's Entra connection (tenants are approved separately) or its SAML
/// connection (from the IdP's metadata); one of each kind per account. An account the operator
/// has not offered SSO to gets `409 sso_not_available` whatever the body says.
pub async fn create(
    state: &AppState,
    account: String,
    kind: &str,
    saml: SamlConnectionInput,
    actor: String,
    meta: RequestMeta,
) -> Result<CreatedConnection, ServiceError> {
    let name = account.clone();
    let target = state.db.run(move |conn| find_account(conn, &name)).await?;
    require_sso_available(state, &target)?;
    match kind {
        KIND_ENTRA => {
            entra_tenants::runtime(state)?;
        }
        KIND_SAML => {
            return saml::create(state, account, saml, actor, meta)
                .await
                .map(|view| CreatedConnection::Saml(Box::new(view)))
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
            crate::db::transaction(conn, |conn| {
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
                Ok(CreatedConnection::Entra(ConnectionView {
                    id: row.id,
                    kind: row.kind,
                }))
            })
        })
        .await
}
