//! Users: usernames, emails, roles, statuses and password rules.

use secrecy::{ExposeSecret, SecretString};

use super::DomainError;

/// An email address, stored lowercase. Deliberately simple: one `@`, a dotted domain, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let email = input.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(DomainError::InvalidEmail)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != '<' && c != '>');
        if email.len() <= 254 && local_ok && super::DomainName::parse(domain).is_ok() {
            Ok(Self(email))
        } else {
            Err(DomainError::InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
}

/// A username: unique in the installation, compared case-insensitively (stored lowercase).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let name = input.trim().to_lowercase();
        let ok = (3..=254).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_@+".contains(c));
        if ok {
            Ok(Self(name))
        } else {
            Err(DomainError::InvalidUsername)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Role of a membership (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    User,
    ReadOnly,
}

impl Role {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        match input.trim() {
            "admin" => Ok(Self::Admin),
            "user" => Ok(Self::User),
            "read_only" => Ok(Self::ReadOnly),
            _ => Err(DomainError::InvalidRole),
        }
    }

    /// Reads a stored role, exactly as `as_str` wrote it; `None` for anything else.
    pub fn from_stored(value: &str) -> Option<Self> {
        [Self::Admin, Self::User, Self::ReadOnly]
            .into_iter()
            .find(|role| role.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
            Self::ReadOnly => "read_only",
        }
    }
}

/// Lifecycle of a user (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Invited,
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    /// Reads a stored status; anything unknown counts as disabled (refuse when in doubt).
    pub fn from_stored(value: &str) -> Self {
        match value {
            "invited" => Self::Invited,
            "active" => Self::Active,
            _ => Self::Disabled,
        }
    }
}

/// A new password that passed the length rules (NIST SP 800-63B: length, not composition).
/// The upper bound keeps Argon2 input small.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(input: SecretString) -> Result<Self, DomainError> {
        let chars = input.expose_secret().chars().count();
        if (Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            Ok(Self(input))
        } else {
            Err(DomainError::WeakPassword)
        }
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_need_a_dotted_domain() {
        let email = Email::parse(" Ada@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada@example.com");
        assert_eq!(email.domain(), "example.com");
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert_eq!(Email::parse(bad), Err(DomainError::InvalidEmail), "{bad}");
        }
    }

    #[test]
    fn roles_parse_only_the_three_spec_values() {
        assert_eq!(Role::parse("read_only").unwrap(), Role::ReadOnly);
        assert_eq!(Role::parse("owner"), Err(DomainError::InvalidRole));
    }

    #[test]
    fn stored_roles_are_read_exactly_as_written() {
        for role in [Role::Admin, Role::User, Role::ReadOnly] {
            assert_eq!(Role::from_stored(role.as_str()), Some(role));
        }
        for other in ["Admin", " admin", "admin ", "owner", ""] {
            assert_eq!(Role::from_stored(other), None, "{other:?}");
        }
    }

    #[test]
    fn passwords_shorter_than_ten_characters_are_refused() {
        assert!(Password::parse(SecretString::from("short")).is_err());
        assert!(Password::parse(SecretString::from("long enough pass")).is_ok());
        assert!(Password::parse(SecretString::from("x".repeat(257))).is_err());
    }

    #[test]
    fn unknown_stored_status_counts_as_disabled() {
        assert_eq!(UserStatus::from_stored("weird"), UserStatus::Disabled);
    }
}
