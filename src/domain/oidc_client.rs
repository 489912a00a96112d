//! What an OpenID Provider client may register (SPEC §7.1): its type, name and URIs. Pure: the
//! account names it is limited to are resolved by `services::provider::clients`.
//!
//! # Security
//! Redirect URIs are where authorization codes go, so they are compared as exact strings and
//! registered strictly (RFC 9700 §4.1, OAuth 2.0 Security BCP): https only, plain http only on a
//! loopback IP literal (RFC 8252 §7.3, which recommends against the name `localhost`: it may
//! resolve elsewhere), no fragment (RFC 6749 §3.1.2), no wildcard (the open-redirect and
//! code-theft class of bugs that pattern matching caused), no user info, and only in the form a
//! URL parser writes back, so the string we compare is the URL a browser will follow.

use url::{Host, Url};

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// Has a secret (`client_secret_basic` / `client_secret_post`).
    Confidential,
    /// No secret (`none`): SPAs and native apps; PKCE is required of them.
    Public,
}

impl ClientType {
    pub fn parse(raw: &str) -> Result<Self, InvalidClientMetadata> {
        match raw {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            _ => Err(InvalidClientMetadata(
                "type must be \"confidential\" or \"public\"".into(),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }
}

/// A registration that cannot be accepted; `Display` is the reason, safe to show the operator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidClientMetadata(pub String);

/// The most URIs of one kind a client may register.
pub const MAX_URIS: usize = 20;
/// The longest URI accepted.
pub const MAX_URI_LENGTH: usize = 2000;
/// The longest client name accepted (in characters).
pub const MAX_NAME_CHARS: usize = 100;

/// A registration as the operator sent it.
#[derive(Debug, Clone, Default)]
pub struct ClientMetadataInput {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
}

/// A registration that passed every rule: URIs are kept exactly as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub backchannel_logout_uri: Option<String>,
}

impl ClientMetadata {
    pub fn validate(input: ClientMetadataInput) -> Result<Self, InvalidClientMetadata> {
        let name = input.name.trim().to_string();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(InvalidClientMetadata(format!(
                "name must be 1 to {MAX_NAME_CHARS} printable characters"
            )));
        }
        if input.redirect_uris.is_empty() {
            return Err(InvalidClientMetadata(
                "redirect_uris must list at least one URI".into(),
            ));
        }
        let redirect_uris = validate_uri_list("redirect_uris", input.redirect_uris)?;
        let post_logout_redirect_uris =
            validate_uri_list("post_logout_redirect_uris", input.post_logout_redirect_uris)?;
        let backchannel_logout_uri = input
            .backchannel_logout_uri
            .map(|uri| validate_uri("backchannel_logout_uri", &uri))
            .transpose()?;
        Ok(Self {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            backchannel_logout_uri,
        })
    }
}

fn validate_uri_list(field: &str, uris: Vec<String>) -> Result<Vec<String>, InvalidClientMetadata> {
    if uris.len() > MAX_URIS {
        return Err(InvalidClientMetadata(format!(
            "{field} may list at most {MAX_URIS} URIs"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(uris.len());
    for (i, uri) in uris.iter().enumerate() {
        let uri = validate_uri(&format!("{field}[{i}]"), uri)?;
        if out.contains(&uri) {
            return Err(InvalidClientMetadata(format!(
                "{field}[{i}]: '{uri}' is listed twice"
            )));
        }
        out.push(uri);
    }
    Ok(out)
}

/// Checks one redirect, post-logout or back-channel logout URI; returns it unchanged.
pub fn validate_uri(field: &str, raw: &str) -> Result<String, InvalidClientMetadata> {
    let refuse = |why: &str| Err(InvalidClientMetadata(format!("{field}: '{raw}' {why}")));
    if raw.len() > MAX_URI_LENGTH {
        return Err(InvalidClientMetadata(format!(
            "{field}: URIs are at most {MAX_URI_LENGTH} characters"
        )));
    }
    // A URL parser silently drops tabs and line breaks and reads `\` as `/`: the string
    // compared would not be the URL followed.
    if raw
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return refuse("must not contain spaces, control characters or backslashes");
    }
    if raw.contains('*') {
        return refuse("must not contain wildcards (*): register every URI exactly");
    }
    if raw.contains('#') {
        return refuse("must not contain a fragment (#)");
    }
    let Ok(url) = Url::parse(raw) else {
        return refuse("is not an absolute URL");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("must not contain a user name or password");
    }
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if is_loopback_ip(url.host()) => {}
        "http" => {
            return refuse(
                "must use https (plain http only on a loopback address: 127.0.0.1 or [::1])",
            )
        }
        _ => return refuse("must be an https URL"),
    }
    // The parser's own form (lowercase scheme and host, no default port, no dot segments,
    // percent-encoding) — or that form without the `/` it adds to a bare origin.
    let canonical = url.as_str();
    let bare_origin = url.path() == "/" && url.query().is_none() && !raw.ends_with('/');
    if canonical != raw && !(bare_origin && canonical.strip_suffix('/') == Some(raw)) {
        return refuse(&format!("is not in canonical form: register '{canonical}'"));
    }
    Ok(raw.to_string())
}

/// 127.0.0.0/8 or ::1 — an IP literal, never a name.
fn is_loopback_ip(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// True when `presented` is one of `registered`, compared as exact strings (SPEC §7.1).
pub fn uri_is_registered(registered: &[String], presented: &str) -> bool {
    registered.iter().any(|uri| uri == presented)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(uri: &str) -> Result<String, InvalidClientMetadata> {
        validate_uri("redirect_uris[0]", uri)
    }

    #[test]
    fn https_and_loopback_http_uris_are_accepted_unchanged() {
        for uri in [
            "https://portal.example.com/callback",
            "https://portal.example.com/cb?tenant=a&x=1",
            "https://portal.example.com:8443/oidc/callback",
            "https://portal.example.com",
            "https://portal.example.com/",
            "http://127.0.0.1:53682/callback",
            "http://127.9.8.7/cb",
            "http://[::1]:8080/cb",
            "https://10.0.0.5/cb",
        ] {
            assert_eq!(check(uri).as_deref(), Ok(uri), "{uri}");
        }
    }

    #[test]
    fn plain_http_off_loopback_is_refused_and_localhost_is_not_loopback() {
        for uri in [
            "http://portal.example.com/cb",
            "http://localhost:8080/cb",
            "http://LOCALHOST/cb",
            "http://10.0.0.1/cb",
            "http://[::ffff:127.0.0.1]/cb",
            "http://127.0.0.1.nip.io/cb",
        ] {
            let err = check(uri).unwrap_err().to_string();
            assert!(err.contains("must use https"), "{uri}: {err}");
        }
    }

    #[test]
    fn other_schemes_are_refused() {
        for uri in [
            "ftp://portal.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "com.example.app:/callback",
            "file:///etc/passwd",
        ] {
            let err = check(uri).unwrap_err().to_string();
            assert!(err.contains("must be an https URL"), "{uri}: {err}");
        }
    }

    #[test]
    fn fragments_wildcards_and_user_info_are_refused() {
        let cases = [
            ("https://portal.example.com/cb#", "fragment"),
            ("https://portal.example.com/cb#x", "fragment"),
            ("https://*.example.com/cb", "wildcards"),
            ("https://portal.example.com/*", "wildcards"),
            ("https://user@portal.example.com/cb", "user name"),
            ("https://user:pw@portal.example.com/cb", "user name"),
        ];
        for (uri, why) in cases {
            let err = check(uri).unwrap_err().to_string();
            assert!(err.contains(why), "{uri}: {err}");
        }
    }

    #[test]
    fn relative_and_malformed_uris_are_refused() {
        for uri in [
            "/callback",
            "portal.example.com/cb",
            "https://",
            "",
            "https:",
        ] {
            assert!(check(uri).is_err(), "{uri}");
        }
    }

    #[test]
    fn strings_a_parser_would_rewrite_are_refused() {
        // Each is parsed into another string than the one that would be compared.
        let rewritten = [
            (
                "HTTPS://portal.example.com/cb",
                "https://portal.example.com/cb",
            ),
            (
                "https://Portal.Example.com/cb",
                "https://portal.example.com/cb",
            ),
            (
                "https://portal.example.com:443/cb",
                "https://portal.example.com/cb",
            ),
            (
                "https://portal.example.com/a/../cb",
                "https://portal.example.com/cb",
            ),
            (
                "https://portal.example.com/c%7Cb",
                "https://portal.example.com/c%7Cb",
            ),
            ("http://0x7f.0.0.1/cb", "http://127.0.0.1/cb"),
            (
                "https:portal.example.com/cb",
                "https://portal.example.com/cb",
            ),
            (
                "https:///portal.example.com/cb",
                "https://portal.example.com/cb",
            ),
            (
                "https://portal.example.com?x=1",
                "https://portal.example.com/?x=1",
            ),
        ];
        for (uri, canonical) in rewritten {
            match check(uri) {
                Err(e) if uri == canonical => panic!("{uri}: {e}"),
                Err(e) => assert!(
                    e.to_string().contains(&format!("register '{canonical}'")),
                    "{uri}: {e}"
                ),
                Ok(_) => assert_eq!(uri, canonical, "{uri} accepted although rewritten"),
            }
        }
    }

    #[test]
    fn spaces_control_characters_and_backslashes_are_refused() {
        for uri in [
            "https://portal.example.com/c b",
            "https://portal.example.com/cb\n",
            "https://portal.example.com/c\tb",
            " https://portal.example.com/cb",
            "https://portal.example.com\\@evil.example/cb",
        ] {
            let err = check(uri).unwrap_err().to_string();
            assert!(err.contains("backslashes"), "{uri:?}: {err}");
        }
    }

    #[test]
    fn overlong_uris_are_refused() {
        let uri = format!("https://portal.example.com/{}", "a".repeat(MAX_URI_LENGTH));
        assert!(check(&uri).unwrap_err().to_string().contains("at most"));
    }

    fn input(redirects: &[&str]) -> ClientMetadataInput {
        ClientMetadataInput {
            name: "Portal".into(),
            redirect_uris: redirects.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_registration_needs_a_name_and_a_redirect_uri() {
        let ok = ClientMetadata::validate(input(&["https://p.example.com/cb"])).unwrap();
        assert_eq!(ok.name, "Portal");
        assert!(ClientMetadata::validate(input(&[]))
            .unwrap_err()
            .0
            .contains("at least one"));
        for name in ["", "   ", "a\u{7}b", &"x".repeat(MAX_NAME_CHARS + 1)] {
            let mut bad = input(&["https://p.example.com/cb"]);
            bad.name = name.to_string();
            assert!(ClientMetadata::validate(bad)
                .unwrap_err()
                .0
                .starts_with("name"));
        }
    }

    #[test]
    fn every_list_and_the_backchannel_uri_follow_the_same_rules() {
        let mut bad = input(&["https://p.example.com/cb"]);
        bad.post_logout_redirect_uris = vec!["http://p.example.com/bye".into()];
        let err = ClientMetadata::validate(bad).unwrap_err().0;
        assert!(err.starts_with("post_logout_redirect_uris[0]"), "{err}");
        let mut bad = input(&["https://p.example.com/cb"]);
        bad.backchannel_logout_uri = Some("https://p.example.com/bc#frag".into());
        let err = ClientMetadata::validate(bad).unwrap_err().0;
        assert!(err.starts_with("backchannel_logout_uri"), "{err}");
        let err = ClientMetadata::validate(input(&[
            "https://p.example.com/cb",
            "https://p.example.com/other",
            "https://p.example.com/cb",
        ]))
        .unwrap_err()
        .0;
        assert!(
            err.contains("redirect_uris[2]") && err.contains("twice"),
            "{err}"
        );
        let many: Vec<String> = (0..=MAX_URIS)
            .map(|i| format!("https://p.example.com/{i}"))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(ClientMetadata::validate(input(&many))
            .unwrap_err()
            .0
            .contains("at most"));
    }

    #[test]
    fn registered_uris_match_as_exact_strings_only() {
        let registered = vec!["https://p.example.com/cb".to_string()];
        assert!(uri_is_registered(&registered, "https://p.example.com/cb"));
        for other in [
            "https://p.example.com/cb/",
            "https://P.example.com/cb",
            "https://p.example.com/cb?x=1",
            "https://p.example.com:443/cb",
            "https://p.example.com/CB",
        ] {
            assert!(!uri_is_registered(&registered, other), "{other}");
        }
    }

    #[test]
    fn client_types_parse_strictly() {
        assert_eq!(ClientType::parse("public"), Ok(ClientType::Public));
        assert_eq!(
            ClientType::parse("confidential").map(ClientType::as_str),
            Ok("confidential")
        );
        assert!(ClientType::parse("Public").is_err());
    }
}
