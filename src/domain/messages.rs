//! Every user-facing sign-in message of SPEC §3, in one place. Tests compare page text to these.

pub const PASSWORD_LOGIN_DISABLED: &str =
    "Password login is disabled for this account. Log in with SSO.";
pub const SSO_NOT_CONFIGURED: &str = "This account is not configured for SSO.";
pub const EMAIL_NOT_CONFIGURED: &str = "This email is not configured for SSO.";
pub const MULTIPLE_USERNAMES: &str = "It seems that multiple user names are associated with this email ID. Please contact your admin or support.";
pub const SSO_INCORRECT_CREDENTIALS: &str = "Login failed due to incorrect credentials.";
pub const IDP_UNREACHABLE: &str =
    "Unable to connect to your identity provider. Please try again later.";
pub const SESSION_EXPIRED: &str = "Your session has expired. Please log in again.";
pub const IDP_MFA_MISSING: &str =
    "Your organization's sign-in did not use multi-factor authentication.";
/// SPEC §3.8: switching into an account that would not admit the session's sign-in.
pub const OWN_SSO_REQUIRED: &str = "This account requires you to sign in with its own SSO.";
pub const RESET_PASSWORD_SSO: &str = "Reset password is not supported as SSO is active.";
/// SPEC §3.5: the operator has not offered SSO to the account (API `409 sso_not_available`,
/// the admin's SSO, Entra and SAML pages).
pub const SSO_NOT_AVAILABLE: &str =
    "SSO is not available for this account. Ask your provider to offer it.";

/// Password form: wrong password, unknown user and ambiguous email all read the same, so the
/// form does not tell an attacker which usernames exist.
pub const INVALID_CREDENTIALS: &str = "Incorrect username or password.";
pub const INVALID_OTP: &str = "That code is not valid. Enter the current 6-digit code from your authenticator app, or a recovery code.";
/// Every password worker is busy and the queue is full (a 503 with `Retry-After`).
pub const BUSY: &str = "Many people are signing in right now. Please try again in a few seconds.";
/// The session store or the database cannot be reached: nothing was done, try again soon.
pub const TEMPORARILY_UNAVAILABLE: &str =
    "Sign-in is temporarily unavailable. Please try again in a moment.";
pub const THROTTLED: &str = "Too many sign-in attempts. Wait a few minutes and try again.";
pub const FORM_EXPIRED: &str = "This form has expired. Reload the page and try again.";
pub const OTP_STEP_EXPIRED: &str = "Your session has expired. Please log in again.";
