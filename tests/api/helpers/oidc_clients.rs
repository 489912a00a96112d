//! The OpenID Provider's clients: registering them through the operator API, authenticating
//! them as the token endpoint does, and reading back what the database and the audit log keep.

use diesel::prelude::*;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{json, Value};
use sso_broker::db::schema::{audit_events, oidc_clients};
use sso_broker::services::provider::clients::{
    authenticate_client, AuthenticatedClient, ClientAuthError,
};

use super::TestApp;

/// The operator API's collection of clients.
pub const OIDC_CLIENTS: &str = "/api/v1/oidc/clients";

/// A confidential client's registration, named `name`, with one https redirect URI.
pub fn portal_client(name: &str) -> Value {
    json!({
        "name": name,
        "type": "confidential",
        "redirect_uris": ["https://portal.example.com/oidc/callback"],
    })
}

/// Registers a client; the registration as the API answers it (with the secret, once).
pub async fn create_oidc_client(app: &TestApp, body: Value) -> Value {
    let res = app.api(Method::POST, OIDC_CLIENTS, Some(body)).await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

/// Client authentication as the token endpoint does it.
pub async fn authenticate_oidc_client(
    app: &TestApp,
    client_id: &str,
    secret: Option<&str>,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let secret = secret.map(|s| SecretString::from(s.to_string()));
    authenticate_client(&app.state, client_id, secret.as_ref()).await
}

/// Every stored column of every client, as text.
pub async fn stored_oidc_clients(app: &TestApp) -> Vec<String> {
    app.state
        .db
        .run(|conn| {
            let rows: Vec<sso_broker::db::oidc_client::OidcClient> = oidc_clients::table
                .select(sso_broker::db::oidc_client::OidcClient::as_select())
                .load(conn)?;
            Ok::<_, sso_broker::db::DbError>(rows.iter().map(|r| format!("{r:?}")).collect())
        })
        .await
        .unwrap()
}

/// `(actor, action, reason)` of the audit events about clients, oldest first.
pub async fn oidc_client_audit(app: &TestApp) -> Vec<(String, String, String)> {
    app.state
        .db
        .run(|conn| {
            Ok::<_, sso_broker::db::DbError>(
                audit_events::table
                    .filter(audit_events::action.like("oidc_client.%"))
                    .order(audit_events::at.asc())
                    .select((
                        audit_events::actor,
                        audit_events::action,
                        audit_events::reason.assume_not_null(),
                    ))
                    .load::<(String, String, String)>(conn)?,
            )
        })
        .await
        .unwrap()
}
