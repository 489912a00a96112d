//! Seed data for `sso-broker demo`: a password + TOTP account a person can click through.

use secrecy::{ExposeSecret, SecretString};

use crate::db::account::Account;
use crate::services::admin::accounts::{self, NewAccount, NewUser};
use crate::services::admin::api_tokens;
use crate::services::support::audit::RequestMeta;
use crate::services::ServiceError;
use crate::AppState;

/// The demo users' password. The demo runs on loopback only.
pub const DEMO_PASSWORD: &str = "demo-password-123";
pub const DEMO_ACCOUNT: &str = "demo";

#[derive(Debug)]
pub struct DemoInfo {
    pub api_token: SecretString,
}

/// A demo user: username, email, role, and whether it has `DEMO_PASSWORD` (SSO users do not).
type DemoUser = (&'static str, &'static str, &'static str, bool);

/// Creates account `name` with `users`, unless the account exists already.
async fn seed_account(
    state: &AppState,
    name: &'static str,
    display_name: &str,
    users: &[DemoUser],
) -> Result<(), ServiceError> {
    let exists = state
        .db
        .run(move |conn| Account::find_by_name(conn, name))
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    accounts::create_account(
        state,
        NewAccount {
            name: name.into(),
            display_name: Some(display_name.into()),
            parent: None,
            // The demo shows SSO whatever the installation default is.
            sso_available: Some(true),
        },
        "demo".into(),
        RequestMeta::cli(),
    )
    .await?;
    for &(username, email, role, with_password) in users {
        accounts::create_user(
            state,
            NewUser {
                account: name.into(),
                email: email.into(),
                username: Some(username.into()),
                role: role.into(),
                password: with_password.then(|| SecretString::from(DEMO_PASSWORD)),
            },
            "demo".into(),
            RequestMeta::cli(),
        )
        .await?;
    }
    Ok(())
}

/// Applies demo SSO settings to `name` when it has none yet.
async fn seed_sso(
    state: &AppState,
    name: &'static str,
    change: crate::services::admin::sso_settings::SsoChange,
) -> Result<(), ServiceError> {
    let id = accounts::account_id(state, name.into()).await?;
    if crate::services::admin::sso_settings::get(state, id.clone())
        .await?
        .enabled_at
        .is_some()
    {
        return Ok(());
    }
    crate::services::admin::sso_settings::update(
        state,
        id,
        change,
        "demo".into(),
        RequestMeta::cli(),
    )
    .await?;
    Ok(())
}

/// SSO on, with enforcement (and the admin's break-glass password) and JIT as given.
fn sso_on(enforced: bool, jit: bool) -> crate::services::admin::sso_settings::SsoChange {
    crate::services::admin::sso_settings::SsoChange {
        enabled: true,
        enforced,
        enforcement_scope: None,
        allow_admin_password_login: enforced,
        require_idp_mfa: false,
        jit: crate::services::admin::sso_settings::JitChange {
            enabled: jit,
            default_role: "user".into(),
            accounts: vec![],
        },
        entra_auth_context: None,
    }
}

/// The accounts `demo` seeds; it refuses a database that holds any other.
pub const DEMO_ACCOUNTS: &[&str] = &[DEMO_ACCOUNT, entra::ACCOUNT, okta::ACCOUNT];

/// Refuses a database that holds accounts the demo did not make.
///
/// # Security
/// The demo seeds admins with a published password (`DEMO_PASSWORD`) and prints an operator
/// token; run against a real installation's database it would open a door into it.
pub async fn ensure_demo_database(state: &AppState) -> Result<(), ServiceError> {
    let others = state
        .db
        .run(|conn| Account::names_other_than(conn, DEMO_ACCOUNTS, 6))
        .await?;
    if others.is_empty() {
        return Ok(());
    }
    let mut listed = others
        .iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if others.len() > 5 {
        listed.push_str(", …");
    }
    Err(ServiceError::Unprocessable {
        code: "not_a_demo_database",
        message: format!(
            "demo refuses this database: it holds accounts that are not demo accounts ({listed}). The demo adds admins with a published password; point SSO_BROKER_DATA_DIR or SSO_BROKER_DATABASE_URL at a new database."
        ),
    })
}

/// Creates the demo account and users when missing; always makes a fresh operator token.
/// Refuses a database with other accounts (see [`ensure_demo_database`]).
pub async fn seed(state: &AppState) -> Result<DemoInfo, ServiceError> {
    ensure_demo_database(state).await?;
    seed_account(
        state,
        DEMO_ACCOUNT,
        "Demo Company (password + TOTP)",
        &[
            ("demo-admin", "admin@demo.example.com", "admin", true),
            ("demo-user", "user@demo.example.com", "user", true),
        ],
    )
    .await?;
    let suffix = crate::crypto::tokens::random_token(4);
    let api_token =
        api_tokens::create(state, &format!("demo-{suffix}"), RequestMeta::cli()).await?;
    debug_assert!(api_token.expose_secret().starts_with("ssob_"));
    Ok(DemoInfo { api_token })
}

/// The Entra demo: its account, and the development IdP's tenants.
pub mod entra {
    use std::sync::Arc;

    use crate::db::approved_tenant::ApprovedTenant;
    use crate::services::ServiceError;
    use crate::sso::devidp::{DevIdp, DevTenant, DevUser};
    use crate::sso::entra::admin_roles::GLOBAL_ADMINISTRATOR;
    use crate::AppState;

    pub const ACCOUNT: &str = "entra-demo";
    /// The development app registration's client id.
    pub const CLIENT_ID: &str = "5e0d1c3a-8b7e-4f5a-9d2c-0a1b2c3d4e5f";
    pub const CONTOSO: &str = "c0a7e1f0-1111-4a2b-8c3d-000000c0a7e1";
    pub const FABRIKAM: &str = "fab71ca0-2222-4b3c-9d4e-000000fab71c";

    fn user(oid: &str, email: &str, name: &str) -> DevUser {
        DevUser {
            oid: oid.into(),
            email: email.into(),
            name: name.into(),
            email_verified: true,
            wids: vec![],
        }
    }

    /// Tenants of the development IdP. A tenant the broker approved earlier is consented again
    /// (the IdP keeps nothing across restarts; the broker's database does).
    pub async fn seed_idp(state: &AppState, idp: &Arc<DevIdp>) -> Result<(), ServiceError> {
        let approved = state
            .db
            .run(|conn| {
                Ok::<_, ServiceError>((
                    !ApprovedTenant::list_for_tenant(conn, CONTOSO)?.is_empty(),
                    !ApprovedTenant::list_for_tenant(conn, FABRIKAM)?.is_empty(),
                ))
            })
            .await?;
        idp.add_tenant(
            CONTOSO,
            DevTenant {
                display_name: "Contoso (development tenant)".into(),
                verified_domains: vec!["contoso.example".into()],
                consented: approved.0,
                users: vec![
                    DevUser {
                        wids: vec![GLOBAL_ADMINISTRATOR.into()],
                        ..user(
                            "0c0a7e1f-0000-4000-8000-0000000000a1",
                            "it-admin@contoso.example",
                            "Contoso IT Admin",
                        )
                    },
                    user(
                        "0c0a7e1f-0000-4000-8000-0000000000a2",
                        "ada@contoso.example",
                        "Ada Lovelace",
                    ),
                ],
                graph_id_override: None,
            },
        );
        idp.add_tenant(
            FABRIKAM,
            DevTenant {
                display_name: "Fabrikam (another organization)".into(),
                verified_domains: vec!["fabrikam.example".into()],
                consented: approved.1,
                users: vec![user(
                    "0fab71ca-0000-4000-8000-0000000000b1",
                    "eve@fabrikam.example",
                    "Eve Fabrikam",
                )],
                graph_id_override: None,
            },
        );
        Ok(())
    }

    /// The `entra-demo` account: admin `entra-admin` (password) and user ada@contoso.example.
    /// SSO stays off: the admin turns it on at /admin/sso after connecting the tenant.
    pub async fn seed_account(state: &AppState) -> Result<(), ServiceError> {
        super::seed_account(
            state,
            ACCOUNT,
            "Entra demo (Microsoft Entra ID SSO)",
            &[
                ("entra-admin", "admin@entra-demo.example", "admin", true),
                ("ada", "ada@contoso.example", "user", false),
            ],
        )
        .await
    }
}

/// The Okta demo: an account whose admin connects the development SAML IdP.
pub mod okta {
    use crate::routes::devidp_saml::DevSamlUser;
    use crate::services::ServiceError;
    use crate::AppState;

    pub const ACCOUNT: &str = "okta-demo";

    /// Users of the development SAML IdP: Grace signs in with MFA, Heidi with a password only,
    /// Ivan is created on first sign-in (JIT), Mallory is not a user of the account.
    pub fn idp_users() -> Vec<DevSamlUser> {
        [
            ("grace@okta-demo.example", "Grace", "Hopper", true),
            ("heidi@okta-demo.example", "Heidi", "Lamarr", false),
            ("ivan@okta-demo.example", "Ivan", "Sutherland", true),
            ("mallory@elsewhere.example", "Mallory", "Elsewhere", true),
        ]
        .into_iter()
        .map(|(email, given, surname, mfa)| DevSamlUser {
            email: email.into(),
            given_name: given.into(),
            surname: surname.into(),
            mfa,
        })
        .collect()
    }

    /// The `okta-demo` account: admin `okta-admin` (password) and SSO users grace and heidi.
    pub async fn seed_account(state: &AppState) -> Result<(), ServiceError> {
        super::seed_account(
            state,
            ACCOUNT,
            "Okta demo (SAML SSO)",
            &[
                ("okta-admin", "admin@okta-demo.example", "admin", true),
                (
                    "grace@okta-demo.example",
                    "grace@okta-demo.example",
                    "user",
                    false,
                ),
                (
                    "heidi@okta-demo.example",
                    "heidi@okta-demo.example",
                    "user",
                    false,
                ),
                ("olga", "olga@okta-demo.example", "user", true),
            ],
        )
        .await?;
        // JIT for the verified domain: ivan@okta-demo.example gets a user at first sign-in.
        let claimed = crate::services::admin::domains::claim(
            state,
            ACCOUNT.into(),
            "okta-demo.example",
            true,
            "demo".into(),
            crate::services::RequestMeta::cli(),
        )
        .await;
        match claimed {
            Ok(_) | Err(ServiceError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
        // Enforced with the admin's break-glass password login, and JIT on.
        super::seed_sso(state, ACCOUNT, super::sso_on(true, true)).await
    }
}

pub mod portal;
