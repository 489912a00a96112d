//! The services' error enum. `Display` is what a user may read; causes go to the log only.

use crate::db::DbError;
use crate::domain::{messages, DomainError};
use crate::services::sign_in::failure::{SignInFailure, Step};

/// The text shown for any failure on our side; the request id lets support find the cause.
pub const INTERNAL_MESSAGE: &str =
    "Something went wrong on our side. Please try again; if it keeps happening, contact support and quote the request id.";

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error("{message}")]
    NotFound {
        code: &'static str,
        message: &'static str,
    },
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: &'static str,
    },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// An upstream identity provider failed or refused (HTTP 502).
    #[error("{message}")]
    BadGateway { code: &'static str, message: String },
    /// A bearer token presented for validation is not valid; the message names the SS code.
    #[error("{0}")]
    InvalidToken(String),
    #[error("{}", messages::INVALID_CREDENTIALS)]
    InvalidCredentials,
    #[error("{}", messages::INVALID_OTP)]
    InvalidOtp,
    #[error("The current password is not correct.")]
    WrongCurrentPassword,
    #[error("{}", messages::THROTTLED)]
    Throttled,
    /// SSO is enforced for the user's account (SPEC §3.1).
    #[error("{}", messages::PASSWORD_LOGIN_DISABLED)]
    PasswordLoginDisabled,
    /// A temporary password must be replaced before anything else.
    #[error("Choose a new password to continue.")]
    PasswordChangeRequired,
    /// Password reset and change are off while SSO is on (SPEC §3.5).
    #[error("{}", messages::RESET_PASSWORD_SSO)]
    PasswordResetDisabled,
    /// The operator has not offered SSO to the account (SPEC §3.5): its SSO configuration is
    /// closed. Sign-in through a connection configured earlier is not refused by this.
    #[error("{}", messages::SSO_NOT_AVAILABLE)]
    SsoNotAvailable,
    #[error("{}", messages::SESSION_EXPIRED)]
    SessionExpired,
    /// Too many sign-ins at once for the password pool: try again in a moment (503 with
    /// `Retry-After`).
    #[error("{}", messages::BUSY)]
    Busy,
    /// A sign-in step was refused (already audited, throttled and counted by
    /// `sign_in::attempt`); `Display` is the text the user reads.
    #[error(transparent)]
    SignIn(SignInFailure),
    /// The account would not admit this session's sign-in (SPEC §3.8): the user signs in again
    /// through the account's IdP, with Log in with SSO prefilled for `account` and `email`.
    #[error("{}", if *.mfa_missing { messages::IDP_MFA_MISSING } else { messages::OWN_SSO_REQUIRED })]
    AccountSignInRequired {
        account: String,
        email: String,
        mfa_missing: bool,
    },
    #[error("Please sign in to continue.")]
    SignInRequired,
    #[error("You do not have permission to do this.")]
    Forbidden,
    #[error("{}", messages::FORM_EXPIRED)]
    Csrf,
    #[error("{INTERNAL_MESSAGE}")]
    Db(DbError),
    /// The database could not be reached: nothing was written; try again shortly.
    #[error("{}", messages::TEMPORARILY_UNAVAILABLE)]
    Unavailable(DbError),
    #[error("{INTERNAL_MESSAGE}")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    /// Stable machine-readable code (API `error` field, logs).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(e) => e.code(),
            Self::NotFound { code, .. } | Self::Conflict { code, .. } => code,
            Self::Unprocessable { code, .. } | Self::BadGateway { code, .. } => code,
            Self::InvalidToken(_) => "invalid_token",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidOtp => "invalid_code",
            Self::WrongCurrentPassword => "wrong_current_password",
            Self::Throttled => "too_many_attempts",
            Self::PasswordLoginDisabled => "password_login_disabled",
            Self::PasswordChangeRequired => "password_change_required",
            Self::PasswordResetDisabled => "password_reset_disabled",
            Self::SsoNotAvailable => "sso_not_available",
            Self::SessionExpired => "session_expired",
            Self::Busy => "busy",
            Self::SignIn(_) => "sign_in_refused",
            Self::AccountSignInRequired { .. } => "account_sign_in_required",
            Self::SignInRequired => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Csrf => "csrf_failed",
            Self::Db(_) | Self::Internal(_) => "internal_error",
            Self::Unavailable(_) => "temporarily_unavailable",
        }
    }

    /// The HTTP status that fits.
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid(_) => 422,
            Self::NotFound { .. } => 404,
            Self::Conflict { .. } => 409,
            Self::Unprocessable { .. } => 422,
            Self::BadGateway { .. } => 502,
            Self::InvalidToken(_) => 401,
            Self::InvalidCredentials
            | Self::InvalidOtp
            | Self::SessionExpired
            | Self::SignInRequired => 401,
            Self::WrongCurrentPassword => 422,
            Self::Throttled => 429,
            Self::Busy => 503,
            Self::PasswordLoginDisabled | Self::PasswordChangeRequired => 403,
            Self::AccountSignInRequired { .. } => 403,
            Self::SignIn(failure) => failure.status(Step::Answer),
            Self::PasswordResetDisabled | Self::SsoNotAvailable => 409,
            Self::Forbidden | Self::Csrf => 403,
            Self::Db(_) | Self::Internal(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }

    pub fn account_not_found() -> Self {
        Self::NotFound {
            code: "account_not_found",
            message: "No account has this name.",
        }
    }
}

impl From<diesel::result::Error> for ServiceError {
    fn from(e: diesel::result::Error) -> Self {
        Self::from(DbError::Query(e))
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            Self::Unavailable(e)
        } else {
            Self::Db(e)
        }
    }
}

/// A refused step of a password or code sign-in reads as the forms always said it (one text for
/// every wrong-credential cause); an SSO refusal keeps its own text and status.
impl From<SignInFailure> for ServiceError {
    fn from(failure: SignInFailure) -> Self {
        use SignInFailure as F;
        match failure {
            F::UnknownUser
            | F::AmbiguousEmail
            | F::NoPassword
            | F::WrongPassword
            | F::UserNotActive => Self::InvalidCredentials,
            F::WrongCode | F::ReplayedCode | F::WrongRecoveryCode => Self::InvalidOtp,
            F::SsoEnforced => Self::PasswordLoginDisabled,
            other => Self::SignIn(other),
        }
    }
}

impl From<crate::work_pool::PoolError> for ServiceError {
    fn from(e: crate::work_pool::PoolError) -> Self {
        match e {
            crate::work_pool::PoolError::Busy => Self::Busy,
            e => Self::Internal(e.into()),
        }
    }
}
