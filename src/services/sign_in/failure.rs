//! Why a sign-in ends without a session, for every method (password, second factor, Entra,
//! SAML): one enum whose `code()` is the stable reason written to the audit log, whose `Display`
//! is the exact text the user reads (SPEC §3's constants), and whose `status()` is the HTTP
//! status of the page that says it. A leaf: the sign-in flows depend on it, never the reverse.
//!
//! # Security
//! Several causes read the same on purpose: an unknown user, a wrong password and an ambiguous
//! email all say "Incorrect username or password.", and a user another account's IdP may not
//! claim reads like an unknown email (SPEC §3.8), so a page never tells an attacker which
//! accounts or users exist. Only the audit code tells them apart.

use std::borrow::Cow;

use crate::domain::messages;
use crate::sso::SsoError;

/// Where in a sign-in a failure happened: it decides the status of causes that can happen on
/// either side of the IdP (a form refused before any redirect is 422; the same cause found when
/// the IdP's answer comes back is a failed authentication, 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The sign-in form, before the browser goes to an IdP.
    Form,
    /// The IdP's answer (OIDC callback, SAML ACS) or the password/code check.
    Answer,
}

/// Why a sign-in failed. `Display` is what the user reads; `code()` what the audit log keeps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInFailure {
    // --- Which account, which connection (SPEC §3.2 steps 1–2) ---
    #[error("Enter a valid email address.")]
    InvalidEmail,
    /// No account has the typed name (or no verified domain names one).
    #[error("{}", messages::SSO_NOT_CONFIGURED)]
    UnknownAccount,
    /// The ACS of a connection that does not exist (any more).
    #[error("{}", messages::SSO_NOT_CONFIGURED)]
    UnknownConnection,
    /// The account (or the ancestor SSO is configured on) has SSO turned off.
    #[error("{}", messages::SSO_NOT_CONFIGURED)]
    SsoDisabled,
    /// No SAML connection and no approved Entra tenant (or Entra is not set up here).
    #[error("{}", messages::SSO_NOT_CONFIGURED)]
    NoUsableConnection,
    /// Several approved tenants and none holds the email's domain.
    #[error("{}", messages::SSO_NOT_CONFIGURED)]
    NoTenantForDomain,

    // --- Which user (SPEC §3.2 step 7, §3.4, §3.8) ---
    #[error("{}", messages::EMAIL_NOT_CONFIGURED)]
    EmailNotConfigured,
    /// The connection's account may not claim this user (SPEC §3.8); reads like an unknown email.
    #[error("{}", messages::EMAIL_NOT_CONFIGURED)]
    ForeignUser,
    /// JIT would create a user whose username another account's user holds.
    #[error("{}", messages::EMAIL_NOT_CONFIGURED)]
    JitUsernameTaken,
    #[error("{}", messages::MULTIPLE_USERNAMES)]
    MultipleUsernames,
    /// Disabled, or not a member of the account signed into.
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    UserNotAllowed,
    /// An identity link names a user that no longer exists.
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    LinkedUserMissing,
    /// The user is linked to another identity of this issuer: never re-linked by email.
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    LinkedToAnotherIdentity,

    // --- What the IdP said (SPEC §3.2 steps 4–6, §3.6) ---
    /// The IdP answered with an error response; the text is ours, chosen by its code, and the
    /// audit code is `idp_error:` plus the IdP's error code cut to safe characters.
    #[error("{text}")]
    IdpError { code: String, text: &'static str },
    /// The IdP could not be reached or answered garbage; the code is the `SsoError`'s.
    #[error("{}", messages::IDP_UNREACHABLE)]
    IdpUnreachable(&'static str),
    /// The token or response failed validation; the code is the `SsoError`'s (`SS0…`).
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    Rejected(&'static str),
    /// The OIDC callback came without a code.
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    NoCode,
    /// The SAML POST came without a response.
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    NoSamlResponse,
    /// The verified answer holds no (trusted) email.
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    NoTrustedEmail { saml: bool },
    /// The IdP signed in someone else than the email entered (SPEC §3.2 step 4).
    #[error("{}", messages::SSO_INCORRECT_CREDENTIALS)]
    EmailMismatch,
    /// The account requires IdP MFA and the IdP gave no positive evidence (SPEC §3.6).
    #[error("{}", messages::IDP_MFA_MISSING)]
    IdpMfaMissing,
    /// The Entra authentication context asked for did not come back in `acrs`.
    #[error("{}", messages::IDP_MFA_MISSING)]
    AuthContextMissing,

    // --- The login flow (SPEC §3.2 step 6) ---
    /// No live flow: missing, used, expired, or (Entra) not this browser's.
    #[error("{}", messages::SESSION_EXPIRED)]
    FlowExpired,
    /// A SAML response came without a RelayState to a connection that takes no unsolicited ones.
    #[error("{}", messages::SESSION_EXPIRED)]
    NoRelayState,
    /// A live SAML flow posted from a browser that did not start it (login CSRF).
    #[error("{}", messages::SESSION_EXPIRED)]
    FlowOfAnotherBrowser,

    // --- Password and second factor (SPEC §3.1) ---
    #[error("{}", messages::INVALID_CREDENTIALS)]
    UnknownUser,
    #[error("{}", messages::INVALID_CREDENTIALS)]
    AmbiguousEmail,
    #[error("{}", messages::INVALID_CREDENTIALS)]
    NoPassword,
    #[error("{}", messages::INVALID_CREDENTIALS)]
    WrongPassword,
    #[error("{}", messages::INVALID_CREDENTIALS)]
    UserNotActive,
    #[error("{}", messages::PASSWORD_LOGIN_DISABLED)]
    SsoEnforced,
    #[error("{}", messages::INVALID_OTP)]
    WrongCode,
    #[error("{}", messages::INVALID_OTP)]
    ReplayedCode,
    #[error("{}", messages::INVALID_OTP)]
    WrongRecoveryCode,

    // --- Admin consent's sign-in (SPEC §3.3 step 1) ---
    /// The admin signed in with a Microsoft account that may not grant tenant-wide consent.
    #[error("{NOT_TENANT_ADMIN}")]
    NotTenantAdmin,
    /// The broker session that started the flow is gone or is someone else's now.
    #[error("{}", messages::SESSION_EXPIRED)]
    SessionChanged,

    #[error("{}", messages::THROTTLED)]
    Throttled,
}

/// What an admin reads who signed in to connect Entra without a directory role that may
/// grant admin consent.
pub const NOT_TENANT_ADMIN: &str = "To connect your organization, sign in with a Microsoft account that is a Global Administrator or Privileged Role Administrator of your organization. Application and Cloud Application Administrators cannot grant consent to the Microsoft Graph permission this connection needs.";

impl SignInFailure {
    /// The stable reason kept in the audit log and the operator's log line.
    pub fn code(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Self::InvalidEmail => "invalid_email",
            Self::UnknownAccount => "unknown_account",
            Self::UnknownConnection => "unknown_connection",
            Self::SsoDisabled => "sso_disabled",
            Self::NoUsableConnection => "no_usable_connection",
            Self::NoTenantForDomain => "no_tenant_for_domain",
            Self::EmailNotConfigured => "email_not_configured",
            Self::ForeignUser => "foreign_user",
            Self::JitUsernameTaken => "jit_username_taken",
            Self::MultipleUsernames => "multiple_usernames",
            Self::UserNotAllowed => "user_not_allowed",
            Self::LinkedUserMissing => "linked_user_missing",
            Self::LinkedToAnotherIdentity => "linked_to_another_identity",
            Self::IdpError { code, .. } => return Cow::Owned(code.clone()),
            Self::IdpUnreachable(code) | Self::Rejected(code) => code,
            Self::NoCode => "no_code",
            Self::NoSamlResponse => "saml_no_response",
            Self::NoTrustedEmail { saml: true } => "saml_no_email",
            Self::NoTrustedEmail { saml: false } => "email_not_trusted",
            Self::EmailMismatch => "email_mismatch",
            Self::IdpMfaMissing => "idp_mfa_missing",
            Self::AuthContextMissing => "auth_context_missing",
            Self::FlowExpired => "saml_flow_expired",
            Self::NoRelayState => "saml_no_relay_state",
            Self::FlowOfAnotherBrowser => "saml_flow_other_browser",
            Self::UnknownUser => "unknown_user",
            Self::AmbiguousEmail => "ambiguous_email",
            Self::NoPassword => "no_password",
            Self::WrongPassword => "wrong_password",
            Self::UserNotActive => "user_not_active",
            Self::SsoEnforced => "sso_enforced",
            Self::WrongCode => "wrong_code",
            Self::ReplayedCode => "replayed_code",
            Self::WrongRecoveryCode => "wrong_recovery_code",
            Self::NotTenantAdmin => "not_tenant_admin",
            Self::SessionChanged => "session_changed",
            Self::Throttled => "throttled",
        })
    }

    /// The HTTP status of the page that says it, at `step` of the sign-in.
    pub fn status(&self, step: Step) -> u16 {
        match self {
            Self::Throttled => 429,
            Self::IdpUnreachable(_) => 502,
            Self::UnknownConnection => 404,
            Self::SsoEnforced => 403,
            Self::InvalidEmail => 422,
            _ if step == Step::Form => 422,
            _ => 401,
        }
    }

    /// Whether the failure counts against the client address's SSO budget: not a step refused
    /// because the address is throttled already, and not an IdP outage (not the client's doing).
    pub fn counts_against_client(&self) -> bool {
        !matches!(self, Self::Throttled | Self::IdpUnreachable(_))
    }

    /// An IdP's error response (`error`, `error_description`): a friendly text chosen by its
    /// code, and an audit code the IdP cannot use to forge log text.
    pub fn idp_error(error: &str, description: &str) -> Self {
        Self::IdpError {
            code: idp_error_reason(error),
            text: idp_error_text(error, description),
        }
    }
}

/// A validation failure of the protocol adapters: unreachable IdPs say so, everything else is a
/// failed authentication with the adapter's `SS…` code.
impl From<SsoError> for SignInFailure {
    fn from(e: SsoError) -> Self {
        match e {
            SsoError::IdpUnreachable(_) => Self::IdpUnreachable(e.code()),
            _ => Self::Rejected(e.code()),
        }
    }
}

/// A friendly text for an IdP error response (the raw description goes to the log only).
pub fn idp_error_text(error: &str, description: &str) -> &'static str {
    let code = description
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.starts_with("AADSTS"))
        .unwrap_or_default();
    match (error, code) {
        (_, "AADSTS65004") | ("access_denied", "") => "Sign-in was cancelled. You can try again.",
        (_, "AADSTS50105") => "Your organization has not given you access to this application. Ask your IT admin to assign it to you.",
        (_, "AADSTS65001") | (_, "AADSTS90094") => "Your organization's admin has not approved this application yet.",
        (_, "AADSTS53003") => "Your organization's access policy blocked this sign-in. Contact your IT admin.",
        (_, "AADSTS50076") | (_, "AADSTS50079") => "Your organization requires multi-factor authentication. Please try again and complete it.",
        _ => "Your identity provider could not sign you in. Please try again, or contact your IT admin.",
    }
}

/// The audit reason for an IdP error response: `idp_error:` and the IdP's `error` code, cut to
/// 40 characters of `[A-Za-z0-9_.-]`, so attacker-chosen text never reaches an audit event or a
/// log line as it came.
pub fn idp_error_reason(error: &str) -> String {
    let code: String = error
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .take(40)
        .collect();
    format!("idp_error:{code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_that_must_not_tell_users_apart_read_the_same() {
        // SPEC §3.8: a user another account's IdP may not claim reads like an unknown email.
        assert_eq!(
            SignInFailure::ForeignUser.to_string(),
            messages::EMAIL_NOT_CONFIGURED
        );
        assert_eq!(
            SignInFailure::JitUsernameTaken.to_string(),
            messages::EMAIL_NOT_CONFIGURED
        );
        for f in [
            SignInFailure::UnknownUser,
            SignInFailure::AmbiguousEmail,
            SignInFailure::NoPassword,
            SignInFailure::WrongPassword,
            SignInFailure::UserNotActive,
        ] {
            assert_eq!(f.to_string(), messages::INVALID_CREDENTIALS, "{f:?}");
        }
        for f in [
            SignInFailure::UserNotAllowed,
            SignInFailure::LinkedToAnotherIdentity,
            SignInFailure::EmailMismatch,
            SignInFailure::Rejected("SS0003"),
        ] {
            assert_eq!(f.to_string(), messages::SSO_INCORRECT_CREDENTIALS, "{f:?}");
        }
        // …while the audit log keeps them apart.
        assert_eq!(SignInFailure::ForeignUser.code(), "foreign_user");
        assert_eq!(SignInFailure::UnknownUser.code(), "unknown_user");
        assert_eq!(SignInFailure::Rejected("SS0118").code(), "SS0118");
    }

    #[test]
    fn a_cause_found_before_the_idp_is_422_and_after_it_401() {
        let f = SignInFailure::EmailNotConfigured;
        assert_eq!(f.status(Step::Form), 422);
        assert_eq!(f.status(Step::Answer), 401);
        assert_eq!(SignInFailure::SsoDisabled.status(Step::Form), 422);
        assert_eq!(SignInFailure::UnknownConnection.status(Step::Answer), 404);
        assert_eq!(SignInFailure::Throttled.status(Step::Form), 429);
        assert_eq!(
            SignInFailure::IdpUnreachable("SS0040").status(Step::Form),
            502
        );
        assert_eq!(SignInFailure::FlowExpired.status(Step::Answer), 401);
    }

    #[test]
    fn an_unreachable_idp_is_told_apart_from_a_rejected_answer() {
        let down = SignInFailure::from(SsoError::IdpUnreachable(anyhow::anyhow!("timeout")));
        assert_eq!(down.to_string(), messages::IDP_UNREACHABLE);
        let bad = SignInFailure::from(SsoError::MalformedToken);
        assert_eq!(bad, SignInFailure::Rejected("SS0001"));
        assert_eq!(bad.to_string(), messages::SSO_INCORRECT_CREDENTIALS);
    }

    #[test]
    fn idp_errors_get_friendly_texts_by_their_code() {
        let cancelled = SignInFailure::idp_error("access_denied", "");
        assert_eq!(
            cancelled.to_string(),
            "Sign-in was cancelled. You can try again."
        );
        assert_eq!(cancelled.code(), "idp_error:access_denied");
        assert_eq!(
            idp_error_text("invalid_request", "AADSTS50105: The signed in user is not assigned"),
            "Your organization has not given you access to this application. Ask your IT admin to assign it to you."
        );
        assert_eq!(
            idp_error_text("interaction_required", "AADSTS50076: MFA required"),
            "Your organization requires multi-factor authentication. Please try again and complete it."
        );
        // An unknown error never echoes the IdP's text.
        let odd = idp_error_text("x", "<script>alert(1)</script>");
        assert!(!odd.contains("script"));
    }

    #[test]
    fn an_idp_error_reason_keeps_only_code_characters() {
        assert_eq!(idp_error_reason("access_denied"), "idp_error:access_denied");
        assert_eq!(
            idp_error_reason("x\nrequest_id=forged <b>"),
            "idp_error:xrequest_idforgedb"
        );
        assert_eq!(idp_error_reason(&"a".repeat(100)).len(), 50);
    }
}
