//! Validation failures of domain values. `Display` is safe to show a user.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("Account names use 2 to 63 lowercase letters, digits and hyphens, and start with a letter or digit.")]
    InvalidAccountName,
    #[error("Enter a valid email address.")]
    InvalidEmail,
    #[error("Usernames use 3 to 254 characters: letters, digits and . _ @ + -")]
    InvalidUsername,
    #[error("Role must be one of admin, user, read_only.")]
    InvalidRole,
    #[error("Enter a valid domain name, like example.com.")]
    InvalidDomain,
    #[error("Passwords need at least 10 and at most 256 characters.")]
    WeakPassword,
    #[error("An authentication context id is c1 to c99.")]
    InvalidAuthContext,
    #[error("Enforcement scope must be all or domains.")]
    InvalidEnforcementScope,
}

impl DomainError {
    /// Stable code for API clients and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidAccountName => "invalid_account_name",
            Self::InvalidEmail => "invalid_email",
            Self::InvalidUsername => "invalid_username",
            Self::InvalidRole => "invalid_role",
            Self::InvalidDomain => "invalid_domain",
            Self::WeakPassword => "weak_password",
            Self::InvalidAuthContext => "invalid_auth_context",
            Self::InvalidEnforcementScope => "invalid_enforcement_scope",
        }
    }
}
