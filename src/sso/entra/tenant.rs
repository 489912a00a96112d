//! Entra tenant ids and the issuer each tenant's tokens must carry.

use url::Url;

use crate::sso::SsoError;

/// The tenant of personal Microsoft accounts (outlook.com, …): never a customer organization.
pub const PERSONAL_ACCOUNT_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// A customer tenant id: a GUID in its canonical lowercase hyphenated form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    /// Accepts only the canonical form, so that the issuer built from it can be compared
    /// byte for byte (SPEC §4), and refuses the personal-account tenant.
    pub fn parse(input: &str) -> Result<Self, SsoError> {
        let parsed = uuid::Uuid::parse_str(input).map_err(|_| SsoError::InvalidTenant)?;
        let canonical = parsed.hyphenated().to_string();
        if canonical != input {
            return Err(SsoError::InvalidTenant);
        }
        if canonical == PERSONAL_ACCOUNT_TENANT {
            return Err(SsoError::PersonalAccountTenant);
        }
        Ok(Self(canonical))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `{authority}/{tid}/v2.0`: the only issuer this tenant's v2.0 tokens may carry.
    pub fn issuer(&self, authority: &Url) -> String {
        format!(
            "{}/{}/v2.0",
            authority.as_str().trim_end_matches('/'),
            self.0
        )
    }

    /// `{authority}/{tid}/discovery/v2.0/keys`: the tenant's signing keys.
    pub fn jwks_url(&self, authority: &Url) -> String {
        format!(
            "{}/{}/discovery/v2.0/keys",
            authority.as_str().trim_end_matches('/'),
            self.0
        )
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_guids_are_tenants() {
        let tid = TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap();
        assert_eq!(tid.as_str(), "72f988bf-86f1-41af-91ab-2d7cd011db47");
        for bad in [
            "72F988BF-86F1-41AF-91AB-2D7CD011DB47",
            "{72f988bf-86f1-41af-91ab-2d7cd011db47}",
            "72f988bf86f141af91ab2d7cd011db47",
            "common",
            "",
        ] {
            assert!(
                matches!(TenantId::parse(bad), Err(SsoError::InvalidTenant)),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_personal_account_tenant_is_refused() {
        assert!(matches!(
            TenantId::parse(PERSONAL_ACCOUNT_TENANT),
            Err(SsoError::PersonalAccountTenant)
        ));
    }

    #[test]
    fn issuer_is_built_from_the_authority_and_tenant() {
        let authority = Url::parse("https://login.microsoftonline.com/").unwrap();
        let tid = TenantId::parse("72f988bf-86f1-41af-91ab-2d7cd011db47").unwrap();
        assert_eq!(
            tid.issuer(&authority),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
        );
    }
}
