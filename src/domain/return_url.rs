//! Where to send the browser after sign-in. Open redirects are refused: only a relative path on
//! this host or a URL on the configured portal origin is accepted.

use url::Url;

/// Returns `input` when it is a safe place to return to, `None` otherwise.
///
/// # Security
/// `//evil.example`, `/\evil.example` and `https:evil.example` are read by browsers as other
/// hosts (the classic open-redirect bypasses); they are refused, as are control characters.
pub fn safe_return_url(input: &str, portal_url: Option<&Url>) -> Option<String> {
    if input.is_empty() || input.len() > 2048 || input.chars().any(|c| c.is_control()) {
        return None;
    }
    if input.starts_with('/') {
        let second = input.chars().nth(1);
        if matches!(second, Some('/') | Some('\\')) || input.contains('\\') {
            return None;
        }
        return Some(input.to_string());
    }
    let portal = portal_url?;
    let parsed = Url::parse(input).ok()?;
    let same_origin = parsed.scheme() == portal.scheme()
        && parsed.host_str() == portal.host_str()
        && parsed.port_or_known_default() == portal.port_or_known_default();
    (same_origin && parsed.username().is_empty() && parsed.password().is_none())
        .then(|| parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_kept() {
        assert_eq!(
            safe_return_url("/account/security?x=1", None).as_deref(),
            Some("/account/security?x=1")
        );
    }

    #[test]
    fn protocol_relative_and_backslash_tricks_are_refused() {
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https:evil.example",
            "javascript:alert(1)",
            "/a\r\nb",
            "",
        ] {
            assert_eq!(safe_return_url(bad, None), None, "{bad}");
        }
    }

    #[test]
    fn only_the_portal_origin_is_allowed_for_absolute_urls() {
        let portal = Url::parse("https://portal.example.com").unwrap();
        assert!(safe_return_url("https://portal.example.com/inbox", Some(&portal)).is_some());
        assert_eq!(
            safe_return_url("https://portal.example.com.evil.io/", Some(&portal)),
            None
        );
        assert_eq!(
            safe_return_url("https://user@portal.example.com/", Some(&portal)),
            None
        );
        assert_eq!(
            safe_return_url("http://portal.example.com/", Some(&portal)),
            None
        );
    }
}
