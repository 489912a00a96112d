//! Entra directory roles that may grant tenant-wide admin consent, by role template id (the
//! values of the `wids` claim). The admin sign-in of admin consent must carry one of them.
//!
//! The broker asks for a Microsoft Graph *application* permission (Organization.Read.All).
//! Microsoft lets only a Global Administrator or a Privileged Role Administrator grant that;
//! Cloud Application and Application Administrators may consent to delegated permissions only,
//! so their consent would fail at Microsoft (or, worse, look like it worked): they are refused
//! before the consent step.
//!
//! # Security
//! Without this check any ordinary member of a tenant that consented for one customer could
//! connect that tenant to their own account: the Graph proof shows the tenant consented, not
//! that this person may speak for it.

pub const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";
pub const PRIVILEGED_ROLE_ADMINISTRATOR: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
pub const CLOUD_APPLICATION_ADMINISTRATOR: &str = "158c047a-c907-4556-b7ef-446551a6b5f7";
pub const APPLICATION_ADMINISTRATOR: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";

const CONSENT_ROLES: &[&str] = &[GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR];

/// True when the `wids` claim holds a role that may grant tenant-wide consent to Microsoft
/// Graph application permissions.
pub fn may_grant_consent(wids: &[String]) -> bool {
    wids.iter().any(|w| CONSENT_ROLES.contains(&w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_consent_roles_count() {
        assert!(may_grant_consent(&[GLOBAL_ADMINISTRATOR.to_string()]));
        assert!(may_grant_consent(&[
            "b79fbf4d-3ef9-4689-8143-76b194e85509".to_string(),
            PRIVILEGED_ROLE_ADMINISTRATOR.to_string()
        ]));
        // They cannot grant consent to Microsoft Graph application permissions.
        assert!(!may_grant_consent(&[APPLICATION_ADMINISTRATOR.to_string()]));
        assert!(!may_grant_consent(&[
            CLOUD_APPLICATION_ADMINISTRATOR.to_string()
        ]));
        // Directory Readers, User Administrator: not enough.
        assert!(!may_grant_consent(&[
            "88d8e3e3-8f55-4a1e-953a-9b9898b8876b".to_string(),
            "fe930be7-5e62-47db-91af-98c3a49a38b1".to_string()
        ]));
        assert!(!may_grant_consent(&[]));
    }
}
