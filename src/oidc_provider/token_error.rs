//! RFC 6749 §5.2 error responses of the token, revocation and introspection endpoints.

use serde::Serialize;

/// An RFC 6749 §5.2 error: its code and a description safe to send to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{error}: {error_description}")]
pub struct OAuthError {
    pub error: &'static str,
    pub error_description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
        }
    }

    pub fn invalid_request(text: &str) -> Self {
        Self::new("invalid_request", text)
    }

    pub fn invalid_client() -> Self {
        Self::new("invalid_client", "client authentication failed")
    }

    pub fn invalid_grant(text: &str) -> Self {
        Self::new("invalid_grant", text)
    }

    /// `401` for `invalid_client` (RFC 6749 §5.2), `500` for `server_error`, else `400`.
    pub fn status(&self) -> u16 {
        match self.error {
            "invalid_client" => 401,
            "server_error" => 500,
            _ => 400,
        }
    }
}
