//! Account names and email domains.

use super::DomainError;

/// The unique "Account Name" typed at SSO login: a case-insensitive slug, stored lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let name = input.trim().to_ascii_lowercase();
        let valid_len = (2..=63).contains(&name.len());
        let valid_chars = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        let starts_well = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
        if valid_len && valid_chars && starts_well && !name.ends_with('-') {
            Ok(Self(name))
        } else {
            Err(DomainError::InvalidAccountName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email domain (SPEC §2 Domain), stored lowercase without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let domain = input.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let tld_ok = labels
            .last()
            .is_some_and(|tld| tld.bytes().any(|b| b.is_ascii_alphabetic()));
        if domain.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok {
            Ok(Self(domain))
        } else {
            Err(DomainError::InvalidDomain)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_case_insensitive_slugs() {
        assert_eq!(
            AccountName::parse(" Acme-Corp ").unwrap().as_str(),
            "acme-corp"
        );
        for bad in ["a", "-acme", "acme-", "ac me", "acmé", "acme_corp", ""] {
            assert_eq!(
                AccountName::parse(bad),
                Err(DomainError::InvalidAccountName),
                "{bad}"
            );
        }
    }

    #[test]
    fn domain_names_need_two_labels_and_a_letter_tld() {
        assert_eq!(
            DomainName::parse("Example.COM.").unwrap().as_str(),
            "example.com"
        );
        for bad in [
            "localhost",
            "exa mple.com",
            "-x.com",
            "1.2.3.4",
            "a..com",
            "",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad}");
        }
    }
}
