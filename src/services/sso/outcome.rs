//! What an SSO attempt ends in, whatever the protocol: the sign-in it leads to and where the
//! browser goes next, or the callback's other outcomes. A leaf: the flows (`start`, `entra`,
//! `saml`) and admin consent depend on it, never the other way round. Refusals are
//! `sign_in::failure::SignInFailure`, recorded by `sign_in::attempt`.

use secrecy::SecretString;

use crate::auth::session::SignedIn;
use crate::domain::AfterSignIn;
use crate::services::sign_in::failure::SignInFailure;

/// A successful SSO sign-in: the session record, and what follows it.
#[derive(Debug)]
pub struct SsoSignIn {
    pub signed_in: SignedIn,
    pub after: AfterSignIn,
}

/// What the OIDC redirect URI leads to.
// One short-lived value per callback: boxing the sign-in would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CallbackOutcome {
    SignedIn(SsoSignIn),
    /// The admin's sign-in of SPEC §3.3 step 1 succeeded: on to the tenant's consent page.
    ConsentRedirect {
        url: String,
        state: SecretString,
    },
    /// Refused (already recorded).
    Refused(SignInFailure),
}

/// The OIDC callback's query.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}
