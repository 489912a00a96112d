//! "Log in with SSO" (SPEC §3.2) steps 1–2: from Account Name + Work Email to the IdP the
//! account signs in through — its SAML connection, or its approved Entra tenant — then step 3 in
//! that protocol's half (`sso::saml::begin`, `sso::entra::begin`). Every attempt is audited;
//! refusals here tell whether an account or email exists, so they also count against the client
//! address's SSO budget.

use crate::auth::throttle;
use crate::db::account::Account;
use crate::db::approved_tenant::ApprovedTenant;
use crate::db::connection::{IdpConnection, KIND_ENTRA};
use crate::db::domain::Domain;
use crate::db::user::User;
use crate::db::DbConnection;
use crate::domain::{AccountName, AfterSignIn, Email, SsoPolicy};
use crate::services::connections::saml::SamlConnection;
use crate::services::sign_in::attempt::{Attempt, Method};
use crate::services::sign_in::failure::SignInFailure;
use crate::services::sso::entra::EntraTarget;
use crate::services::sso::flow::SsoRedirect;
use crate::services::sso::identity::account_users_with_email;
use crate::services::sso::saml::SamlTarget;
use crate::services::support::audit::RequestMeta;
use crate::services::ServiceError;
use crate::AppState;

/// Which IdP an SSO attempt goes to.
#[derive(Debug)]
enum Target {
    Entra(EntraTarget),
    Saml(Box<SamlTarget>),
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

/// The account SSO is configured on for `account` and what it offers: a sub-account without a
/// connection of its own signs in through its nearest ancestor's, under the policy of the
/// account that owns it (SPEC §3.5).
struct Configured {
    sso_account: String,
    policy: SsoPolicy,
    saml: Option<SamlConnection>,
    tenants: Vec<ApprovedTenant>,
}

impl Configured {
    fn load(
        conn: &mut DbConnection,
        account: &Account,
        entra_configured: bool,
    ) -> Result<Self, ServiceError> {
        let sso_account =
            match crate::services::trust::usable_connections(conn, &account.id)?.first() {
                Some(c) => c.account_id.clone(),
                None => account.id.clone(),
            };
        let policy = crate::services::admin::sso_settings::load_policy(conn, &sso_account)?;
        if !policy.enabled {
            return Err(SignInFailure::SsoDisabled.into());
        }
        let saml = SamlConnection::for_account(conn, &sso_account)?;
        let tenants: Vec<ApprovedTenant> = ApprovedTenant::list_for_account(conn, &sso_account)?
            .into_iter()
            .filter(ApprovedTenant::is_approved)
            .collect();
        let connected = IdpConnection::find_kind(conn, &sso_account, KIND_ENTRA)?.is_some();
        if saml.is_none() && (!entra_configured || !connected || tenants.is_empty()) {
            return Err(SignInFailure::NoUsableConnection.into());
        }
        Ok(Self {
            sso_account,
            policy,
            saml,
            tenants,
        })
    }

    /// The approved tenants' verified domains, which vouch for emails on the Entra path only.
    fn tenant_domains(&self) -> Vec<String> {
        match self.saml {
            Some(_) => Vec::new(),
            None => self.tenants.iter().flat_map(|t| t.domains()).collect(),
        }
    }

    /// SPEC §3.2 step 2: exactly one user of the account has the email (or JIT may create
    /// one), and this account's IdP may sign them in (SPEC §3.8: the connection's account may
    /// claim them by email; the callback and ACS check again with what the IdP asserted).
    fn check_user(
        &self,
        conn: &mut DbConnection,
        account_id: &str,
        email: &Email,
    ) -> Result<(), ServiceError> {
        let users = account_users_with_email(conn, account_id, email.as_str())?;
        let domains = self.tenant_domains();
        match users.as_slice() {
            [] => {
                let verified = crate::services::sso::jit::domain_verified_for(
                    conn,
                    &self.sso_account,
                    email.domain(),
                    &domains,
                )?;
                if !self.policy.jit_allowed(verified) {
                    return Err(SignInFailure::EmailNotConfigured.into());
                }
            }
            [user] => {
                if !self.may_sign_in(conn, user, email, &domains)? {
                    return Err(SignInFailure::ForeignUser.into());
                }
            }
            _ => return Err(SignInFailure::MultipleUsernames.into()),
        }
        Ok(())
    }

    fn may_sign_in(
        &self,
        conn: &mut DbConnection,
        user: &User,
        email: &Email,
        tenant_domains: &[String],
    ) -> Result<bool, ServiceError> {
        let claim = crate::services::trust::email_claim(
            conn,
            &self.sso_account,
            user,
            email.as_str(),
            tenant_domains,
        )?;
        Ok(claim.may_link())
    }

    /// With several approved tenants, the one whose verified domains hold the email's.
    fn tenant_for(&self, email: &Email) -> Result<String, SignInFailure> {
        let by_domain = self.tenants.iter().find(|t| {
            t.domains()
                .iter()
                .any(|d| d.eq_ignore_ascii_case(email.domain()))
        });
        match (by_domain, self.tenants.as_slice()) {
            (Some(t), _) => Ok(t.tenant_id.clone()),
            (None, [only]) => Ok(only.tenant_id.clone()),
            (None, _) => Err(SignInFailure::NoTenantForDomain),
        }
    }
}

/// The account the user means, if it exists.
fn find_account(
    conn: &mut DbConnection,
    choice: &AccountChoice,
    email: &Email,
) -> Result<Option<Account>, ServiceError> {
    Ok(match choice {
        AccountChoice::Named(n) => Account::find_by_name(conn, n.as_str())?,
        AccountChoice::Invalid => None,
        // A verified domain names its account (SPEC §2 Domain).
        AccountChoice::Discover => match Domain::find_verified(conn, email.domain())? {
            Some(d) if d.verified => Account::find(conn, &d.account_id)?,
            _ => None,
        },
    })
}

/// What an attempt asks for.
struct Request {
    choice: AccountChoice,
    email: Email,
    after: AfterSignIn,
    entra_configured: bool,
}

/// SPEC §3.2 steps 1–2 and the choice of IdP. An account with a SAML connection signs in
/// through it; otherwise through its approved Entra tenant. `account_id` learns the account as
/// soon as it is known (for the audit event of a refusal).
fn decide(
    conn: &mut DbConnection,
    request: Request,
    account_id: &mut Option<String>,
) -> Result<Target, ServiceError> {
    let account = find_account(conn, &request.choice, &request.email)?
        .ok_or(SignInFailure::UnknownAccount)?;
    *account_id = Some(account.id.clone());
    let configured = Configured::load(conn, &account, request.entra_configured)?;
    configured.check_user(conn, &account.id, &request.email)?;
    let email = request.email;
    if let Some(connection) = configured.saml {
        return Ok(Target::Saml(Box::new(SamlTarget {
            account_id: account.id,
            connection,
            email: email.as_str().to_string(),
            after: request.after,
        })));
    }
    Ok(Target::Entra(EntraTarget {
        tenant_id: configured.tenant_for(&email)?,
        account_id: account.id,
        connection_account_id: configured.sso_account,
        auth_context: configured
            .policy
            .entra_auth_context
            .as_ref()
            .map(|c| c.as_str().to_string()),
        email,
        after: request.after,
    }))
}

/// SPEC §3.2 steps 1–3: the redirect to the account's IdP, or a refusal (recorded, and
/// returned as `ServiceError::SignIn`).
pub async fn begin(
    state: &AppState,
    account: String,
    email: String,
    after: AfterSignIn,
    meta: RequestMeta,
) -> Result<SsoRedirect, ServiceError> {
    let Ok(email) = Email::parse(&email) else {
        return Err(SignInFailure::InvalidEmail.into());
    };
    let mut attempt = Attempt::new(Method::Sso, format!("anonymous:{}", email.as_str()), None);
    let request = Request {
        choice: AccountChoice::from_input(&account),
        email,
        after,
        entra_configured: state.entra.is_some(),
    };
    let now = state.clock.now_naive();
    let bucket = meta.ip.as_deref().map(throttle::sso_ip_bucket);
    let (account_id, decision) = state
        .db
        .run(move |conn| {
            let mut account_id = None;
            if let Some(bucket) = &bucket {
                if throttle::is_throttled(conn, bucket, throttle::PER_IP, now)? {
                    return Ok((None, Err(SignInFailure::Throttled.into())));
                }
            }
            let decision = decide(conn, request, &mut account_id);
            Ok::<_, ServiceError>((account_id, decision))
        })
        .await?;
    attempt.account_id = account_id;
    let target = match decision {
        Ok(target) => target,
        Err(ServiceError::SignIn(failure)) => {
            attempt.record_sso_failure(state, &meta, &failure).await?;
            return Err(failure.into());
        }
        Err(e) => return Err(e),
    };
    let redirect = match target {
        Target::Saml(target) => crate::services::sso::saml::begin(state, *target).await?,
        Target::Entra(target) => {
            crate::services::sso::entra::begin(state, target, &attempt, meta.clone()).await?
        }
    };
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| attempt.audit_success(conn, &meta, now, Some("redirected_to_idp")))
        .await?;
    Ok(redirect)
}

#[cfg(test)]
mod tests {
    use super::AccountChoice;

    #[test]
    fn an_empty_account_name_means_find_it_by_the_email_domain() {
        assert!(matches!(
            AccountChoice::from_input("  "),
            AccountChoice::Discover
        ));
        assert!(matches!(
            AccountChoice::from_input("acme"),
            AccountChoice::Named(_)
        ));
        assert!(matches!(
            AccountChoice::from_input("not a name!"),
            AccountChoice::Invalid
        ));
    }
}
