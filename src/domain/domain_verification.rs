//! Proving a domain claim by DNS (SPEC §2 Domain): where the TXT record lives, what it must
//! say, and the words an admin reads about the result. Pure: the lookup is `dns`'s job.

/// The label under which the token is published.
pub const RECORD_LABEL: &str = "_sso-broker-verification";

/// The TXT record name an admin publishes for `domain` (an already validated domain name).
pub fn record_name(domain: &str) -> String {
    format!("{RECORD_LABEL}.{domain}")
}

/// What one verification attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationOutcome {
    /// A TXT record equals the token: the domain is now verified.
    Verified,
    /// The domain was verified before; nothing was looked up.
    AlreadyVerified,
    /// No TXT record at the name (or the name does not exist).
    TxtMissing,
    /// TXT records exist there, none equal to the token.
    TxtMismatch,
    /// DNS gave no answer.
    DnsUnreachable,
}

impl VerificationOutcome {
    /// Compares the records found with the token. Exact, case-sensitive comparison of each
    /// record's whole text: a record that merely contains the token does not count, or any
    /// TXT record that echoes user input (some services publish such records) would prove it.
    pub fn from_records(records: &[String], token: &str) -> Self {
        if records.iter().any(|r| r == token) {
            Self::Verified
        } else if records.is_empty() {
            Self::TxtMissing
        } else {
            Self::TxtMismatch
        }
    }

    pub fn is_verified(self) -> bool {
        matches!(self, Self::Verified | Self::AlreadyVerified)
    }

    /// Stable code: the audit reason and the API's `result`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::AlreadyVerified => "already_verified",
            Self::TxtMissing => "txt_missing",
            Self::TxtMismatch => "txt_mismatch",
            Self::DnsUnreachable => "dns_unreachable",
        }
    }

    /// What the admin reads; `record` is the TXT record name.
    pub fn message(self, record: &str) -> String {
        match self {
            Self::Verified | Self::AlreadyVerified => DOMAIN_VERIFIED.to_string(),
            Self::TxtMissing => format!(
                "We found no TXT record at {record} yet. DNS changes can take up to an hour to appear."
            ),
            Self::TxtMismatch => format!(
                "The TXT record at {record} does not have the value shown below. Check it for typos and extra quotes, then try again."
            ),
            Self::DnsUnreachable => DNS_UNREACHABLE.to_string(),
        }
    }
}

pub const DOMAIN_VERIFIED: &str = "The domain is verified.";
pub const DNS_UNREACHABLE: &str = "Could not reach DNS. Try again in a few minutes.";

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "sso-broker-verification=Zm9vYmFy";

    fn records(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn a_record_equal_to_the_token_verifies_among_others() {
        assert_eq!(
            VerificationOutcome::from_records(&records(&["v=spf1 -all", TOKEN]), TOKEN),
            VerificationOutcome::Verified
        );
    }

    #[test]
    fn no_record_is_missing_and_other_records_are_a_mismatch() {
        assert_eq!(
            VerificationOutcome::from_records(&[], TOKEN),
            VerificationOutcome::TxtMissing
        );
        for near in [
            "sso-broker-verification=zm9vymfy",
            "\"sso-broker-verification=Zm9vYmFy\"",
            " sso-broker-verification=Zm9vYmFy",
            "sso-broker-verification=Zm9vYmFy trailing",
            "prefix sso-broker-verification=Zm9vYmFy",
            "sso-broker-verification=",
        ] {
            assert_eq!(
                VerificationOutcome::from_records(&records(&[near]), TOKEN),
                VerificationOutcome::TxtMismatch,
                "{near}"
            );
        }
    }

    #[test]
    fn the_missing_message_names_the_record() {
        let record = record_name("example.com");
        assert_eq!(record, "_sso-broker-verification.example.com");
        assert_eq!(
            VerificationOutcome::TxtMissing.message(&record),
            "We found no TXT record at _sso-broker-verification.example.com yet. DNS changes can take up to an hour to appear."
        );
    }
}
