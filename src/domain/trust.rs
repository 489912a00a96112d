//! Trust between accounts (SPEC §3.8): which users an account's IdP may claim by email, and
//! which accounts a session may act in. Pure: callers gather the facts from the database.
//!
//! # Security
//! An account's admin controls that account's IdP connection, so the IdP can assert any email.
//! Without these rules the admin of `acme-eu` could sign in as an `acme` admin who is merely a
//! member of `acme-eu`, then switch into `acme` (cross-account takeover).

use super::sso_policy::PolicySubject;
use super::{MfaEvidence, PasswordLogin, SsoPolicy};

/// What the broker knows about a user an SSO identity without an identity link claims by email.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EmailClaim {
    /// The user's home account is the connection's account or one of its sub-accounts.
    pub home_within_connection_account: bool,
    /// The email's domain is verified by the connection's account itself (not by a parent).
    pub domain_verified_by_connection_account: bool,
    /// Entra: the email's domain is a verified domain of the approved tenant that issued the token.
    pub domain_of_issuing_tenant: bool,
}

impl EmailClaim {
    /// Whether the identity may be linked to the user (else: audit reason `foreign_user`).
    pub fn may_link(&self) -> bool {
        self.home_within_connection_account
            || self.domain_verified_by_connection_account
            || self.domain_of_issuing_tenant
    }
}

/// How a session was admitted (recorded in the session at sign-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission<'a> {
    /// A password sign-in, with or without TOTP.
    Password,
    /// An SSO sign-in through connection `connection_id` with this MFA evidence.
    Sso {
        connection_id: Option<&'a str>,
        mfa: MfaEvidence,
    },
}

/// Whether an account would admit a session's sign-in now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAdmission {
    Admitted,
    /// The account enforces SSO through a connection the session did not come through.
    NeedsOwnSso,
    /// The account requires IdP MFA and the session's IdP gave no positive evidence.
    IdpMfaMissing,
}

/// Whether an account with `policy`, whose usable connections are `account_connections` (its own,
/// or its nearest ancestor's), admits a session admitted as `admission`, for the user `who`
/// (SPEC §3.8 "Which accounts a session may act in").
pub fn admits(
    policy: &SsoPolicy,
    who: PolicySubject,
    admission: Admission<'_>,
    account_connections: &[String],
) -> AccountAdmission {
    match admission {
        Admission::Password => match policy.password_login(who) {
            PasswordLogin::Refused => AccountAdmission::NeedsOwnSso,
            PasswordLogin::Allowed | PasswordLogin::BreakGlass => AccountAdmission::Admitted,
        },
        Admission::Sso { connection_id, mfa } => {
            let own = connection_id.is_some_and(|c| account_connections.iter().any(|a| a == c));
            if policy.enforced_for(who) && !own {
                AccountAdmission::NeedsOwnSso
            } else if policy.enabled && !policy.mfa_satisfied(mfa) {
                AccountAdmission::IdpMfaMissing
            } else {
                AccountAdmission::Admitted
            }
        }
    }
}

/// Whether a refresh may go on under what the account admits now (SPEC §7.2, §3.8): the IdP
/// MFA requirement always applies; SSO enforcement ends only `offline_access` families of
/// password sign-ins (other tokens, like sessions, stay valid until they end).
pub fn refresh_admitted(now: AccountAdmission, password_sign_in: bool, offline: bool) -> bool {
    match now {
        AccountAdmission::Admitted => true,
        AccountAdmission::IdpMfaMissing => false,
        AccountAdmission::NeedsOwnSso => !(password_sign_in && offline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn who(role: Option<Role>) -> PolicySubject {
        PolicySubject {
            role,
            email_in_verified_domain: true,
        }
    }

    fn policy(enabled: bool, enforced: bool, mfa: bool) -> SsoPolicy {
        let mut p = SsoPolicy::off("a");
        p.enabled = enabled;
        p.enforced = enforced;
        p.require_idp_mfa = mfa;
        p
    }

    fn sso(connection: &str, mfa: MfaEvidence) -> Admission<'_> {
        Admission::Sso {
            connection_id: Some(connection),
            mfa,
        }
    }

    #[test]
    fn enforcement_ends_only_offline_families_of_password_sign_ins() {
        use AccountAdmission::*;
        assert!(refresh_admitted(Admitted, true, true));
        assert!(refresh_admitted(NeedsOwnSso, true, false));
        assert!(!refresh_admitted(NeedsOwnSso, true, true));
        assert!(refresh_admitted(NeedsOwnSso, false, true));
        assert!(!refresh_admitted(IdpMfaMissing, false, false));
    }

    #[test]
    fn an_email_claim_needs_one_of_the_three_grounds() {
        assert!(!EmailClaim::default().may_link());
        for claim in [
            EmailClaim {
                home_within_connection_account: true,
                ..Default::default()
            },
            EmailClaim {
                domain_verified_by_connection_account: true,
                ..Default::default()
            },
            EmailClaim {
                domain_of_issuing_tenant: true,
                ..Default::default()
            },
        ] {
            assert!(claim.may_link(), "{claim:?}");
        }
    }

    #[test]
    fn an_enforcing_account_admits_only_its_own_connection() {
        let own = vec!["conn-acme".to_string()];
        let p = policy(true, true, false);
        assert_eq!(
            admits(
                &p,
                who(Some(Role::Admin)),
                sso("conn-eu", MfaEvidence::Yes),
                &own
            ),
            AccountAdmission::NeedsOwnSso
        );
        assert_eq!(
            admits(
                &p,
                who(Some(Role::User)),
                sso("conn-acme", MfaEvidence::Unknown),
                &own
            ),
            AccountAdmission::Admitted
        );
        let legacy = Admission::Sso {
            connection_id: None,
            mfa: MfaEvidence::Yes,
        };
        assert_eq!(
            admits(&p, who(Some(Role::User)), legacy, &own),
            AccountAdmission::NeedsOwnSso
        );
        assert_eq!(
            admits(&p, who(Some(Role::User)), Admission::Password, &own),
            AccountAdmission::NeedsOwnSso
        );
    }

    #[test]
    fn break_glass_admits_an_admins_password_session_only() {
        let mut p = policy(true, true, false);
        p.allow_admin_password_login = true;
        assert_eq!(
            admits(&p, who(Some(Role::Admin)), Admission::Password, &[]),
            AccountAdmission::Admitted
        );
        assert_eq!(
            admits(&p, who(Some(Role::User)), Admission::Password, &[]),
            AccountAdmission::NeedsOwnSso
        );
        // Break-glass is a password sign-in; another IdP's session is not one.
        assert_eq!(
            admits(
                &p,
                who(Some(Role::Admin)),
                sso("other", MfaEvidence::Yes),
                &[]
            ),
            AccountAdmission::NeedsOwnSso
        );
    }

    #[test]
    fn require_idp_mfa_applies_to_sso_sessions_from_any_connection() {
        let own = vec!["c".to_string()];
        let p = policy(true, false, true);
        assert_eq!(
            admits(&p, who(None), sso("other", MfaEvidence::Unknown), &own),
            AccountAdmission::IdpMfaMissing
        );
        assert_eq!(
            admits(&p, who(None), sso("c", MfaEvidence::No), &own),
            AccountAdmission::IdpMfaMissing
        );
        assert_eq!(
            admits(&p, who(None), sso("other", MfaEvidence::Yes), &own),
            AccountAdmission::Admitted
        );
    }

    #[test]
    fn an_account_without_enforcement_admits_any_sign_in() {
        let p = policy(true, false, false);
        assert_eq!(
            admits(
                &p,
                who(Some(Role::User)),
                sso("other", MfaEvidence::No),
                &[]
            ),
            AccountAdmission::Admitted
        );
        assert_eq!(
            admits(
                &policy(false, true, true),
                who(None),
                Admission::Password,
                &[]
            ),
            AccountAdmission::Admitted
        );
    }
}
