//! An account's SSO policy and the rules it implies (SPEC §3.1, §3.4–§3.6): who may still use a
//! password, whether an IdP sign-in's MFA evidence is enough, when JIT may create a user, and
//! what enabling SSO does to existing usernames. Pure: callers load and store.

use super::{DomainError, MfaEvidence, Role};

/// A Conditional Access authentication context id (`c1` … `c99`), requested with the OIDC
/// `claims` parameter and required in the ID token's `acrs` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContextId(String);

impl AuthContextId {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let id = input.trim().to_ascii_lowercase();
        let digits = id.strip_prefix('c').unwrap_or_default();
        let valid = (1..=2).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit());
        if valid {
            Ok(Self(id))
        } else {
            Err(DomainError::InvalidAuthContext)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Just-in-time provisioning (SPEC §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitPolicy {
    pub enabled: bool,
    pub default_role: Role,
    /// The accounts (this one and/or its sub-accounts) a new user becomes a member of.
    pub account_ids: Vec<String>,
}

/// Whom enforcement reaches (SPEC §3.5): every user of the account, or only those whose email
/// is in the account's verified domains (the Sinch seed's "nominated email domains").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EnforcementScope {
    #[default]
    All,
    Domains,
}

impl EnforcementScope {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        match input {
            "all" => Ok(Self::All),
            "domains" => Ok(Self::Domains),
            _ => Err(DomainError::InvalidEnforcementScope),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Domains => "domains",
        }
    }
}

/// The user a policy judges: their role in the account, and whether their email's domain is one
/// of the account's own verified domains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicySubject {
    pub role: Option<Role>,
    pub email_in_verified_domain: bool,
}

/// One account's SSO policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoPolicy {
    pub enabled: bool,
    pub enforced: bool,
    pub enforcement_scope: EnforcementScope,
    pub allow_admin_password_login: bool,
    pub require_idp_mfa: bool,
    pub jit: JitPolicy,
    pub entra_auth_context: Option<AuthContextId>,
}

/// Whether a password sign-in may proceed (SPEC §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordLogin {
    Allowed,
    /// The account admin's break-glass login while SSO is enforced.
    BreakGlass,
    /// SSO is enforced: `Password login is disabled for this account. Log in with SSO.`
    Refused,
}

impl SsoPolicy {
    /// An account that never configured SSO.
    pub fn off(account_id: &str) -> Self {
        Self {
            enabled: false,
            enforced: false,
            enforcement_scope: EnforcementScope::All,
            allow_admin_password_login: false,
            require_idp_mfa: false,
            jit: JitPolicy {
                enabled: false,
                default_role: Role::User,
                account_ids: vec![account_id.to_string()],
            },
            entra_auth_context: None,
        }
    }

    /// Enforcement is on only while SSO is on.
    pub fn is_enforced(&self) -> bool {
        self.enabled && self.enforced
    }

    /// Whether enforcement reaches `who` (SPEC §3.5: scope `domains` reaches only the users
    /// whose email is in the account's verified domains).
    pub fn enforced_for(&self, who: PolicySubject) -> bool {
        self.is_enforced()
            && (self.enforcement_scope == EnforcementScope::All || who.email_in_verified_domain)
    }

    /// Password login for `who`, a user whose home is this account.
    pub fn password_login(&self, who: PolicySubject) -> PasswordLogin {
        if !self.enforced_for(who) {
            PasswordLogin::Allowed
        } else if self.allow_admin_password_login && who.role == Some(Role::Admin) {
            PasswordLogin::BreakGlass
        } else {
            PasswordLogin::Refused
        }
    }

    /// Password reset and change are off while SSO is on (SPEC §3.5): the IdP owns credentials.
    /// The break-glass admin keeps theirs, and with enforcement scope `domains` so do the users
    /// outside the verified domains (the IdP does not know them).
    pub fn password_reset_allowed(&self, who: PolicySubject) -> bool {
        !self.enabled
            || (self.enforcement_scope == EnforcementScope::Domains
                && !who.email_in_verified_domain)
            || (self.allow_admin_password_login && who.role == Some(Role::Admin))
    }

    /// Whether the IdP's MFA evidence satisfies the policy (SPEC §3.6).
    pub fn mfa_satisfied(&self, evidence: MfaEvidence) -> bool {
        !self.require_idp_mfa || evidence == MfaEvidence::Yes
    }

    /// Whether JIT may create a user whose email domain is `domain_verified` for the account
    /// (SPEC §3.4: only verified domains).
    pub fn jit_allowed(&self, domain_verified: bool) -> bool {
        self.enabled && self.jit.enabled && domain_verified
    }
}

/// A user as the enable step sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberForMigration {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub role: Role,
}

/// What enabling SSO does to usernames (SPEC §3.5): every username becomes the user's email,
/// except the admins'. Users sharing one email cannot all get it: they are listed for the
/// admin to resolve and keep their usernames.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UsernameMigration {
    /// `(user id, old username, new username)`.
    pub renames: Vec<(String, String, String)>,
    /// `(email, usernames)` of emails held by more than one user.
    pub duplicates: Vec<(String, Vec<String>)>,
}

/// Plans the username migration for `members`; `taken_elsewhere` says whether a username is
/// held by a user outside this set (then that rename is listed as a duplicate, not done).
pub fn plan_username_migration(
    members: &[MemberForMigration],
    taken_elsewhere: impl Fn(&str) -> bool,
) -> UsernameMigration {
    let mut by_email: std::collections::BTreeMap<&str, Vec<&MemberForMigration>> =
        Default::default();
    for m in members {
        by_email.entry(m.email.as_str()).or_default().push(m);
    }
    let mut plan = UsernameMigration::default();
    for (email, users) in by_email {
        if users.len() > 1 {
            let mut names: Vec<String> = users.iter().map(|u| u.username.clone()).collect();
            names.sort();
            plan.duplicates.push((email.to_string(), names));
            continue;
        }
        let user = users[0];
        if user.role == Role::Admin || user.username == email {
            continue;
        }
        if taken_elsewhere(email) {
            plan.duplicates.push((
                email.to_string(),
                vec![user.username.clone(), email.to_string()],
            ));
            continue;
        }
        plan.renames.push((
            user.user_id.clone(),
            user.username.clone(),
            email.to_string(),
        ));
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SsoPolicy {
        SsoPolicy {
            enabled: true,
            enforced: true,
            ..SsoPolicy::off("a")
        }
    }

    fn who(role: Option<Role>) -> PolicySubject {
        PolicySubject {
            role,
            email_in_verified_domain: true,
        }
    }

    #[test]
    fn enforcement_refuses_passwords_except_the_allowed_admin() {
        let mut p = policy();
        assert_eq!(
            p.password_login(who(Some(Role::User))),
            PasswordLogin::Refused
        );
        assert_eq!(
            p.password_login(who(Some(Role::Admin))),
            PasswordLogin::Refused
        );
        p.allow_admin_password_login = true;
        assert_eq!(
            p.password_login(who(Some(Role::Admin))),
            PasswordLogin::BreakGlass
        );
        assert_eq!(
            p.password_login(who(Some(Role::ReadOnly))),
            PasswordLogin::Refused
        );
        assert_eq!(p.password_login(who(None)), PasswordLogin::Refused);
        p.enabled = false;
        assert_eq!(
            p.password_login(who(Some(Role::User))),
            PasswordLogin::Allowed
        );
    }

    #[test]
    fn domain_scoped_enforcement_reaches_only_verified_domain_emails() {
        let mut p = policy();
        p.enforcement_scope = EnforcementScope::Domains;
        let outside = PolicySubject {
            role: Some(Role::User),
            email_in_verified_domain: false,
        };
        assert_eq!(
            p.password_login(who(Some(Role::User))),
            PasswordLogin::Refused
        );
        assert_eq!(p.password_login(outside), PasswordLogin::Allowed);
        assert!(p.enforced_for(who(None)));
        assert!(!p.enforced_for(outside));
        assert!(p.password_reset_allowed(outside));
        assert!(!p.password_reset_allowed(who(Some(Role::User))));
        p.enforcement_scope = EnforcementScope::All;
        assert_eq!(p.password_login(outside), PasswordLogin::Refused);
        assert!(!p.password_reset_allowed(outside));
    }

    #[test]
    fn enforcement_scopes_parse_from_their_api_names() {
        for scope in [EnforcementScope::All, EnforcementScope::Domains] {
            assert_eq!(EnforcementScope::parse(scope.as_str()), Ok(scope));
        }
        assert!(EnforcementScope::parse("Domains").is_err());
        assert!(EnforcementScope::parse("").is_err());
    }

    #[test]
    fn password_reset_is_off_while_sso_is_on() {
        let mut p = policy();
        p.enforced = false;
        assert!(!p.password_reset_allowed(who(Some(Role::User))));
        p.enabled = false;
        assert!(p.password_reset_allowed(who(Some(Role::User))));
    }

    #[test]
    fn required_mfa_needs_positive_evidence() {
        let mut p = policy();
        assert!(p.mfa_satisfied(MfaEvidence::Unknown));
        p.require_idp_mfa = true;
        assert!(p.mfa_satisfied(MfaEvidence::Yes));
        assert!(!p.mfa_satisfied(MfaEvidence::No));
        assert!(!p.mfa_satisfied(MfaEvidence::Unknown));
    }

    #[test]
    fn jit_needs_sso_jit_and_a_verified_domain() {
        let mut p = policy();
        assert!(!p.jit_allowed(true));
        p.jit.enabled = true;
        assert!(p.jit_allowed(true));
        assert!(!p.jit_allowed(false));
        p.enabled = false;
        assert!(!p.jit_allowed(true));
    }

    #[test]
    fn auth_context_ids_are_c1_to_c99() {
        assert_eq!(AuthContextId::parse(" C7 ").unwrap().as_str(), "c7");
        for bad in ["c0", "c100", "c07", "x1", "c", "", "c1 c2"] {
            assert!(AuthContextId::parse(bad).is_err(), "{bad}");
        }
    }

    fn member(id: &str, username: &str, email: &str, role: Role) -> MemberForMigration {
        MemberForMigration {
            user_id: id.into(),
            username: username.into(),
            email: email.into(),
            role,
        }
    }

    #[test]
    fn migration_renames_users_but_not_admins_and_lists_shared_emails() {
        let members = [
            member("1", "admin", "boss@acme.example", Role::Admin),
            member("2", "bob", "bob@acme.example", Role::User),
            member("3", "carol1", "carol@acme.example", Role::User),
            member("4", "carol2", "carol@acme.example", Role::ReadOnly),
            member("5", "dan@acme.example", "dan@acme.example", Role::User),
            member("6", "erin", "erin@acme.example", Role::User),
        ];
        let plan = plan_username_migration(&members, |name| name == "erin@acme.example");
        assert_eq!(
            plan.renames,
            vec![("2".into(), "bob".into(), "bob@acme.example".into())]
        );
        assert_eq!(
            plan.duplicates,
            vec![
                (
                    "carol@acme.example".into(),
                    vec!["carol1".into(), "carol2".into()]
                ),
                (
                    "erin@acme.example".into(),
                    vec!["erin".into(), "erin@acme.example".into()]
                ),
            ]
        );
    }
}
