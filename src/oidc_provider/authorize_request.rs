//! The authorization request (OIDC Core §3.1.2, SPEC §7.2): its parameters, the rules a valid
//! one follows, and how an answer goes back to the client (`query` or `form_post`, with `iss`
//! per RFC 9207). Pure: the client registration is looked up by `services::provider::authorize`.
//!
//! # Security
//! An unknown client or an unregistered `redirect_uri` is answered with an error page, never a
//! redirect: redirecting to an unverified URI makes the provider an open redirector and can leak
//! codes (RFC 6749 §4.1.2.1, RFC 9700 §4.1). PKCE `plain` is refused (RFC 9700 §2.1.1): only
//! S256 binds the code to a secret the client never sends through the browser.

use serde::{Deserialize, Serialize};

use crate::domain::oidc_client::{uri_is_registered, ClientType};

/// The parameters of `/oauth2/authorize`, from the query (GET) or the form (POST). Unknown
/// parameters are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    pub account: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    pub registration: Option<String>,
}

/// How the answer reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// A `303` to the `redirect_uri` with the answer in its query.
    Query,
    /// An auto-submitting HTML form that POSTs the answer to the `redirect_uri`.
    FormPost,
}

/// A request that passed every rule, as stored while the user signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The granted scopes, space-separated, in the order of `discovery::SCOPES`.
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 challenge, when sent.
    pub code_challenge: Option<String>,
    pub response_mode: ResponseMode,
    /// `prompt=none`: answer without any page.
    pub prompt_none: bool,
    /// `prompt=login`: a new sign-in is required.
    pub prompt_login: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
    /// The account name the token is for (default: the session's active account).
    pub account: Option<String>,
}

impl AuthorizationRequest {
    /// Whether the granted scopes include `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }

    /// Where errors about this request go.
    pub fn reply_to(&self) -> ReplyTo {
        ReplyTo {
            redirect_uri: self.redirect_uri.clone(),
            response_mode: self.response_mode,
            state: self.state.clone(),
        }
    }
}

/// The client's registered facts the rules need.
#[derive(Debug, Clone, Copy)]
pub struct ClientFacts<'a> {
    pub client_type: ClientType,
    pub redirect_uris: &'a [String],
}

/// Where and how an answer is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub state: Option<String>,
}

/// An RFC 6749 §4.1.2.1 / OIDC Core §3.1.2.6 error code with its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeError {
    pub error: &'static str,
    pub description: String,
}

impl AuthorizeError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }
}

/// Why a request is refused, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeRefusal {
    /// No trustworthy place to redirect to: an error page with this text.
    Page(&'static str),
    /// Redirect (or form-post) the error back to the client.
    Redirect(ReplyTo, AuthorizeError),
}

pub const UNKNOWN_CLIENT: &str =
    "This application is not registered with the sign-in service (unknown client_id).";
pub const BAD_REDIRECT_URI: &str =
    "This application asked to return to an address it has not registered (redirect_uri).";

/// Longest `state`, `nonce`, hint or account name accepted.
const MAX_PARAM_LENGTH: usize = 2048;

/// The client's `redirect_uri` if it is registered; otherwise the page to show.
pub fn checked_redirect_uri(
    params: &AuthorizeParams,
    client: ClientFacts<'_>,
) -> Result<String, AuthorizeRefusal> {
    match params.redirect_uri.as_deref() {
        Some(uri) if uri_is_registered(client.redirect_uris, uri) => Ok(uri.to_string()),
        _ => Err(AuthorizeRefusal::Page(BAD_REDIRECT_URI)),
    }
}

/// Validates a request of a known client (SPEC §7.2). The first refusal wins.
pub fn validate(
    params: &AuthorizeParams,
    client: ClientFacts<'_>,
) -> Result<AuthorizationRequest, AuthorizeRefusal> {
    let redirect_uri = checked_redirect_uri(params, client)?;
    let mut reply = ReplyTo {
        redirect_uri: redirect_uri.clone(),
        response_mode: ResponseMode::Query,
        state: params.state.clone(),
    };
    let refuse = |reply: &ReplyTo, error: &'static str, text: &str| {
        Err(AuthorizeRefusal::Redirect(
            reply.clone(),
            AuthorizeError::new(error, text),
        ))
    };
    reply.response_mode = match params.response_mode.as_deref() {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => {
            return refuse(
                &reply,
                "invalid_request",
                "response_mode must be query or form_post",
            )
        }
    };
    if params.request.is_some() {
        return refuse(
            &reply,
            "request_not_supported",
            "request objects are not supported",
        );
    }
    if params.request_uri.is_some() {
        return refuse(
            &reply,
            "request_uri_not_supported",
            "request_uri is not supported",
        );
    }
    if params.registration.is_some() {
        return refuse(
            &reply,
            "registration_not_supported",
            "registration is not supported",
        );
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None | Some("") => return refuse(&reply, "invalid_request", "response_type is required"),
        Some(_) => {
            return refuse(
                &reply,
                "unsupported_response_type",
                "only response_type=code is supported",
            )
        }
    }
    let too_long = [
        &params.state,
        &params.nonce,
        &params.login_hint,
        &params.id_token_hint,
        &params.account,
        &params.scope,
    ]
    .iter()
    .any(|p| p.as_ref().is_some_and(|v| v.len() > MAX_PARAM_LENGTH));
    if too_long {
        return refuse(&reply, "invalid_request", "a parameter is too long");
    }
    let Some(scope) = granted_scope(params.scope.as_deref().unwrap_or_default()) else {
        return refuse(&reply, "invalid_scope", "scope must include openid");
    };
    let code_challenge = match pkce(params, client.client_type) {
        Ok(challenge) => challenge,
        Err(text) => return refuse(&reply, "invalid_request", text),
    };
    let (prompt_none, prompt_login) = match prompt(params.prompt.as_deref()) {
        Ok(p) => p,
        Err(text) => return refuse(&reply, "invalid_request", text),
    };
    let max_age = match params.max_age.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n >= 0 => Some(n),
        Some(_) => {
            return refuse(
                &reply,
                "invalid_request",
                "max_age must be a non-negative number",
            )
        }
    };
    let non_empty = |p: &Option<String>| p.clone().filter(|v| !v.is_empty());
    Ok(AuthorizationRequest {
        client_id: params.client_id.clone().unwrap_or_default(),
        redirect_uri,
        scope,
        state: params.state.clone(),
        nonce: non_empty(&params.nonce),
        code_challenge,
        response_mode: reply.response_mode,
        prompt_none,
        prompt_login,
        max_age,
        login_hint: non_empty(&params.login_hint),
        id_token_hint: non_empty(&params.id_token_hint),
        account: non_empty(&params.account),
    })
}

/// The known scopes among `requested`, in a fixed order; `None` without `openid`.
pub fn granted_scope(requested: &str) -> Option<String> {
    let requested: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if !requested.contains(&"openid") {
        return None;
    }
    let granted: Vec<&str> = super::discovery::SCOPES
        .iter()
        .copied()
        .filter(|s| requested.contains(s))
        .collect();
    Some(granted.join(" "))
}

/// The S256 challenge (RFC 7636): required of public clients, honoured for confidential ones.
fn pkce(params: &AuthorizeParams, client_type: ClientType) -> Result<Option<String>, &'static str> {
    let challenge = params.code_challenge.as_deref().filter(|c| !c.is_empty());
    match (challenge, params.code_challenge_method.as_deref()) {
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        (None, None) if client_type == ClientType::Public => {
            Err("PKCE is required: send code_challenge with code_challenge_method=S256")
        }
        (None, None) => Ok(None),
        (Some(_), Some("S256")) => {
            let c = challenge.unwrap_or_default();
            let well_formed = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if well_formed {
                Ok(Some(c.to_string()))
            } else {
                Err("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
            }
        }
        // Without a method RFC 7636 means `plain`.
        (Some(_), _) => Err("code_challenge_method must be S256 (plain is not supported)"),
    }
}

/// `prompt`: (none, login). `consent` and `select_account` ask for nothing here (first-party
/// clients, no consent screen; the account is chosen with `account`).
fn prompt(raw: Option<&str>) -> Result<(bool, bool), &'static str> {
    let values: Vec<&str> = raw
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if values
        .iter()
        .any(|v| !["none", "login", "consent", "select_account"].contains(v))
    {
        return Err("prompt may be none, login, consent or select_account");
    }
    let none = values.contains(&"none");
    if none && values.len() > 1 {
        return Err("prompt=none cannot be combined with other values");
    }
    Ok((none, values.contains(&"login")))
}

/// The parameters of an answer: the code or error, `state`, and `iss` (RFC 9207).
pub fn response_params(
    outcome: Result<&str, &AuthorizeError>,
    state: Option<&str>,
    issuer: &str,
) -> Vec<(&'static str, String)> {
    let mut params = match outcome {
        Ok(code) => vec![("code", code.to_string())],
        Err(e) => vec![
            ("error", e.error.to_string()),
            ("error_description", e.description.clone()),
        ],
    };
    if let Some(state) = state {
        params.push(("state", state.to_string()));
    }
    params.push(("iss", issuer.to_string()));
    params
}

/// `redirect_uri` with `params` added to its query (a registered URI may have one).
pub fn redirect_with(redirect_uri: &str, params: &[(&'static str, String)]) -> String {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            url.to_string()
        }
        // Registered URIs parse (domain::oidc_client); this keeps the function total.
        Err(_) => redirect_uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "https://app.example.com/cb";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            client_id: Some("c".into()),
            redirect_uri: Some(URI.into()),
            response_type: Some("code".into()),
            scope: Some("openid email".into()),
            state: Some("st".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            ..Default::default()
        }
    }

    fn check(p: &AuthorizeParams, t: ClientType) -> Result<AuthorizationRequest, AuthorizeRefusal> {
        let uris = vec![URI.to_string()];
        validate(
            p,
            ClientFacts {
                client_type: t,
                redirect_uris: &uris,
            },
        )
    }

    fn error_of(p: &AuthorizeParams, t: ClientType) -> &'static str {
        match check(p, t) {
            Err(AuthorizeRefusal::Redirect(_, e)) => e.error,
            other => panic!("expected a redirected error, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_keeps_what_the_code_is_bound_to() {
        let r = check(&params(), ClientType::Public).unwrap();
        assert_eq!(r.scope, "openid email");
        assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
        assert_eq!(r.response_mode, ResponseMode::Query);
    }

    #[test]
    fn an_unregistered_redirect_uri_is_a_page_never_a_redirect() {
        for uri in [
            None,
            Some("https://app.example.com/cb/"),
            Some("https://evil.example/cb"),
        ] {
            let mut p = params();
            p.redirect_uri = uri.map(str::to_string);
            p.response_type = Some("token".into());
            assert_eq!(
                check(&p, ClientType::Confidential),
                Err(AuthorizeRefusal::Page(BAD_REDIRECT_URI))
            );
        }
    }

    #[test]
    fn pkce_is_s256_only_and_required_of_public_clients() {
        let mut p = params();
        p.code_challenge_method = Some("plain".into());
        assert_eq!(error_of(&p, ClientType::Confidential), "invalid_request");
        p.code_challenge_method = None;
        assert_eq!(error_of(&p, ClientType::Confidential), "invalid_request");
        let mut p = params();
        p.code_challenge = None;
        p.code_challenge_method = None;
        assert_eq!(error_of(&p, ClientType::Public), "invalid_request");
        assert!(check(&p, ClientType::Confidential)
            .unwrap()
            .code_challenge
            .is_none());
    }

    #[test]
    fn response_type_scope_prompt_and_max_age_are_checked() {
        let mut p = params();
        p.response_type = Some("token".into());
        assert_eq!(
            error_of(&p, ClientType::Public),
            "unsupported_response_type"
        );
        let mut p = params();
        p.scope = Some("email profile".into());
        assert_eq!(error_of(&p, ClientType::Public), "invalid_scope");
        let mut p = params();
        p.prompt = Some("none login".into());
        assert_eq!(error_of(&p, ClientType::Public), "invalid_request");
        let mut p = params();
        p.max_age = Some("-1".into());
        assert_eq!(error_of(&p, ClientType::Public), "invalid_request");
        let mut p = params();
        p.request = Some("eyJ...".into());
        assert_eq!(error_of(&p, ClientType::Public), "request_not_supported");
    }

    #[test]
    fn unknown_scopes_are_dropped_and_known_ones_ordered() {
        assert_eq!(
            granted_scope("email  openid unknown offline_access").as_deref(),
            Some("openid email offline_access")
        );
        assert_eq!(granted_scope("profile"), None);
    }

    #[test]
    fn answers_carry_state_and_iss_and_keep_the_registered_query() {
        let params = response_params(Ok("abc"), Some("s t"), "https://sso.example.com");
        assert_eq!(
            redirect_with("https://app.example.com/cb?x=1", &params),
            "https://app.example.com/cb?x=1&code=abc&state=s+t&iss=https%3A%2F%2Fsso.example.com"
        );
    }
}
