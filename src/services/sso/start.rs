//! "Log in with SSO" (SPEC §3.2), Entra path, first half: from Account Name + Work Email to a
//! redirect to the approved tenant (the callback is `sso::entra`, the SAML half `sso::saml`). Every attempt is audited; users
//! only ever see SPEC's messages (or a friendly text for an IdP error response).

use secrecy::ExposeSecret;

use crate::auth::throttle;
use crate::db::account::Account;
use crate::db::approved_tenant::ApprovedTenant;
use crate::db::connection::{IdpConnection, KIND_ENTRA};
use crate::db::domain::Domain;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::{AccountName, Email};
use crate::services::connections::saml::SamlConnection;
use crate::services::sso::flow::{start_flow, FlowBinding, FlowPayload, NewFlow, SsoRedirect};
use crate::services::sso::identity::account_users_with_email;
use crate::services::sso::outcome::{audit_attempt, audit_failure, SsoRefusal};
use crate::services::sso::saml::SamlTarget;
use crate::services::support::audit::{Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::sso::entra::TenantId;
use crate::AppState;

/// Which IdP an SSO attempt goes to.
#[derive(Debug)]
enum Target {
    /// The approved tenant to sign in through, the account whose connection approved it, and
    /// the authentication context to ask for.
    Entra(String, String, Option<String>),
    Saml(Box<SamlConnection>),
}

/// Which account the user means: the name typed, or (left empty) the one whose verified domain
/// holds the email's domain.
#[derive(Debug, Clone)]
pub enum AccountChoice {
    Named(AccountName),
    Invalid,
    Discover,
}

impl AccountChoice {
    pub fn from_input(input: &str) -> Self {
        if input.trim().is_empty() {
            Self::Discover
        } else {
            AccountName::parse(input).map_or(Self::Invalid, Self::Named)
        }
    }
}

/// A refusal of step 1 or 2: what the user reads, the account it concerns, the audit reason.
type StepRefusal = (SsoRefusal, Option<String>, &'static str);

/// SPEC §3.2 steps 1–2 and the choice of IdP: `(account id, target)` or a refusal. An account
/// with a SAML connection signs in through it; otherwise through its approved Entra tenant.
fn decide(
    conn: &mut DbConnection,
    choice: &AccountChoice,
    email: &Email,
    entra_configured: bool,
) -> Result<Result<(String, Target), StepRefusal>, ServiceError> {
    let account = match choice {
        AccountChoice::Named(n) => Account::find_by_name(conn, n.as_str())?,
        AccountChoice::Invalid => None,
        // A verified domain names its account (SPEC §2 Domain).
        AccountChoice::Discover => match Domain::find_verified(conn, email.domain())? {
            Some(d) if d.verified => Account::find(conn, &d.account_id)?,
            _ => None,
        },
    };
    let Some(account) = account else {
        return Ok(Err((SsoRefusal::NotConfigured, None, "unknown_account")));
    };
    // A sub-account without a connection of its own signs in through its nearest ancestor's,
    // under the policy of the account that owns it (SPEC §3.5: SSO is configured there).
    let sso_account = match crate::services::trust::usable_connections(conn, &account.id)?.first() {
        Some(c) => c.account_id.clone(),
        None => account.id.clone(),
    };
    let policy = crate::services::admin::sso_settings::load_policy(conn, &sso_account)?;
    if !policy.enabled {
        return Ok(Err((
            SsoRefusal::NotConfigured,
            Some(account.id),
            "sso_disabled",
        )));
    }
    let saml = SamlConnection::for_account(conn, &sso_account)?;
    let tenants: Vec<ApprovedTenant> = ApprovedTenant::list_for_account(conn, &sso_account)?
        .into_iter()
        .filter(ApprovedTenant::is_approved)
        .collect();
    let connected = IdpConnection::find_kind(conn, &sso_account, KIND_ENTRA)?.is_some();
    if saml.is_none() && (!entra_configured || !connected || tenants.is_empty()) {
        return Ok(Err((
            SsoRefusal::NotConfigured,
            Some(account.id),
            "no_usable_connection",
        )));
    }
    let users = account_users_with_email(conn, &account.id, email.as_str())?;
    let tenant_domains: Vec<String> = tenants.iter().flat_map(|t| t.domains()).collect();
    let mut jit = || -> Result<bool, ServiceError> {
        let domains: &[String] = if saml.is_some() { &[] } else { &tenant_domains };
        let verified = crate::services::sso::jit::domain_verified_for(
            conn,
            &sso_account,
            email.domain(),
            domains,
        )?;
        Ok(policy.jit_allowed(verified))
    };
    match users.len() {
        0 if jit()? => {}
        0 => {
            return Ok(Err((
                SsoRefusal::EmailNotConfigured,
                Some(account.id),
                "email_not_configured",
            )))
        }
        1 if !may_sign_in_here(conn, &sso_account, &users[0], email, &saml, &tenants)? => {
            return Ok(Err((
                SsoRefusal::EmailNotConfigured,
                Some(account.id),
                "foreign_user",
            )))
        }
        1 => {}
        _ => {
            return Ok(Err((
                SsoRefusal::MultipleUsernames,
                Some(account.id),
                "multiple_usernames",
            )))
        }
    }
    if let Some(saml) = saml {
        return Ok(Ok((account.id, Target::Saml(Box::new(saml)))));
    }
    // With several approved tenants, the one whose verified domains hold the email's.
    let by_domain = tenants.iter().find(|t| {
        t.domains()
            .iter()
            .any(|d| d.eq_ignore_ascii_case(email.domain()))
    });
    let tenant = match (by_domain, tenants.len()) {
        (Some(t), _) => t.tenant_id.clone(),
        (None, 1) => tenants[0].tenant_id.clone(),
        (None, _) => {
            return Ok(Err((
                SsoRefusal::NotConfigured,
                Some(account.id),
                "no_tenant_for_domain",
            )))
        }
    };
    let context = policy
        .entra_auth_context
        .as_ref()
        .map(|c| c.as_str().to_string());
    Ok(Ok((
        account.id,
        Target::Entra(tenant, sso_account, context),
    )))
}

/// Whether this account's IdP may sign `user` in (SPEC §3.8): the connection's account may
/// claim them by email. The callback and ACS check again with what the IdP asserted; this
/// refuses early.
fn may_sign_in_here(
    conn: &mut DbConnection,
    account_id: &str,
    user: &User,
    email: &Email,
    saml: &Option<SamlConnection>,
    tenants: &[ApprovedTenant],
) -> Result<bool, ServiceError> {
    let tenant_domains: Vec<String> = match saml {
        Some(_) => Vec::new(),
        None => tenants.iter().flat_map(|t| t.domains()).collect(),
    };
    let claim = crate::services::trust::email_claim(
        conn,
        account_id,
        user,
        email.as_str(),
        &tenant_domains,
    )?;
    Ok(claim.may_link())
}

/// SPEC §3.2 steps 1–3.
pub async fn begin(
    state: &AppState,
    account: String,
    email: String,
    return_to: Option<String>,
    meta: RequestMeta,
) -> Result<Result<SsoRedirect, SsoRefusal>, ServiceError> {
    let Ok(email) = Email::parse(&email) else {
        return Ok(Err(SsoRefusal::InvalidEmail));
    };
    let choice = AccountChoice::from_input(&account);
    let now = state.clock.now();
    let naive = now.naive_utc();
    let actor = format!("anonymous:{}", email.as_str());
    let entra_configured = state.entra.is_some();
    let decision = {
        let (meta, actor, email) = (meta.clone(), actor.clone(), email.clone());
        state
            .db
            .run(move |conn| {
                // Refusals here tell whether an account or email exists: they count as failed
                // sign-in steps of the client address, in a budget apart from passwords'.
                let ip_bucket = meta.ip.as_deref().map(throttle::sso_ip_bucket);
                if let Some(bucket) = &ip_bucket {
                    if throttle::is_throttled(conn, bucket, throttle::PER_IP, naive)? {
                        audit_attempt(
                            conn,
                            &meta,
                            naive,
                            &actor,
                            None,
                            Outcome::Failure,
                            "throttled",
                        )?;
                        return Ok(Err(SsoRefusal::Throttled));
                    }
                }
                match decide(conn, &choice, &email, entra_configured)? {
                    Ok(found) => Ok(Ok(found)),
                    Err((refusal, account_id, reason)) => {
                        if let Some(bucket) = &ip_bucket {
                            throttle::record_failure(conn, bucket, naive)?;
                        }
                        audit_attempt(
                            conn,
                            &meta,
                            naive,
                            &actor,
                            account_id.as_deref(),
                            Outcome::Failure,
                            reason,
                        )?;
                        Ok::<_, ServiceError>(Err(refusal))
                    }
                }
            })
            .await?
    };
    let (account_id, tenant_id, connection_account_id, auth_context) = match decision {
        Ok((account_id, Target::Entra(tenant_id, owner, context))) => {
            (account_id, tenant_id, owner, context)
        }
        Ok((account_id, Target::Saml(connection))) => {
            let target = SamlTarget {
                account_id,
                connection: *connection,
                email: email.as_str().to_string(),
                return_to,
                actor,
            };
            return crate::services::sso::saml::begin(state, target, meta)
                .await
                .map(Ok);
        }
        Err(refusal) => return Ok(Err(refusal)),
    };
    let rt = crate::services::connections::entra_tenants::runtime(state)?;
    let tenant = TenantId::parse(&tenant_id).map_err(|e| ServiceError::Internal(e.into()))?;
    let request = match rt
        .oidc
        .authorization_request(&tenant, email.as_str(), auth_context.as_deref(), now)
        .await
    {
        Ok(request) => request,
        Err(e) => {
            log::warn!(
                "request_id={} authorization request for tenant {tenant} failed: {e}",
                meta.request_id
            );
            audit_failure(state, &meta, &actor, &account_id, e.code()).await?;
            return Ok(Err(SsoRefusal::IdpUnreachable));
        }
    };
    let payload = FlowPayload {
        tenant_id,
        nonce: request.nonce.expose_secret().to_string(),
        pkce_verifier: request.pkce_verifier.expose_secret().to_string(),
        email: email.as_str().to_string(),
        return_to,
        connection_account_id: Some(connection_account_id),
        auth_context,
    };
    let flow = NewFlow {
        key: request.state.expose_secret(),
        kind: KIND_ENTRA,
        account_id,
        actor,
    };
    start_flow(state, flow, &payload, meta).await?;
    Ok(Ok(SsoRedirect {
        url: request.url.to_string(),
        binding: FlowBinding::Oidc(request.state),
    }))
}
