//! Where a browser goes once it is signed in: back to a page of the portal (or of the broker),
//! or on with a pending OpenID Provider authorization request (SPEC §7.2: "the authorization
//! then continues without another click"). Every sign-in route carries one from the form it
//! showed to the session it makes: password (+ TOTP), Entra and SAML alike.

use url::Url;

use crate::domain::safe_return_url;

/// The path that resumes a pending authorization request.
pub const AUTHORIZE_CONTINUE_PATH: &str = "/oauth2/authorize/continue";

/// What follows a sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterSignIn {
    /// The broker's home page.
    Home,
    /// A safe return URL: a relative path here, or a URL on the configured portal origin.
    Portal(String),
    /// Resume the pending authorization request with this id.
    Authorize(String),
}

impl AfterSignIn {
    /// Reads a `return_to` parameter. Anything that is not a safe return URL (an open redirect)
    /// is dropped: the user lands on the home page.
    pub fn from_return_to(input: Option<&str>, portal: Option<&Url>) -> Self {
        let Some(safe) = input
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .and_then(|r| safe_return_url(r, portal))
        else {
            return Self::Home;
        };
        match Self::authorize_request(&safe) {
            Some(id) => Self::Authorize(id),
            None => Self::Portal(safe),
        }
    }

    /// The id in `/oauth2/authorize/continue?request=<id>`, if that is what `path` is.
    fn authorize_request(path: &str) -> Option<String> {
        let query = path
            .strip_prefix(AUTHORIZE_CONTINUE_PATH)?
            .strip_prefix('?')?;
        let id = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "request")
            .map(|(_, v)| v.into_owned())?;
        let valid = !id.is_empty()
            && id.len() <= 128
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        valid.then_some(id)
    }

    /// Where to send the browser now.
    pub fn location(&self) -> String {
        match self {
            Self::Home => "/".into(),
            Self::Portal(url) => url.clone(),
            Self::Authorize(id) => format!("{AUTHORIZE_CONTINUE_PATH}?request={id}"),
        }
    }

    /// The `return_to` to carry through a form or a login flow (`None`: home).
    pub fn to_return_to(&self) -> Option<String> {
        match self {
            Self::Home => None,
            _ => Some(self.location()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continue_path_resumes_the_authorization_request() {
        let after =
            AfterSignIn::from_return_to(Some("/oauth2/authorize/continue?request=Ab-3_x"), None);
        assert_eq!(after, AfterSignIn::Authorize("Ab-3_x".into()));
        assert_eq!(
            after.location(),
            "/oauth2/authorize/continue?request=Ab-3_x"
        );
        assert_eq!(
            after.to_return_to().as_deref(),
            Some(after.location().as_str())
        );
    }

    #[test]
    fn a_malformed_request_id_is_an_ordinary_page_not_a_continuation() {
        let after =
            AfterSignIn::from_return_to(Some("/oauth2/authorize/continue?request=a%0Ab"), None);
        assert!(matches!(after, AfterSignIn::Portal(_)));
    }

    #[test]
    fn open_redirects_and_empty_input_go_home() {
        for bad in [
            None,
            Some(""),
            Some("  "),
            Some("//evil.example/x"),
            Some("https://evil.example/"),
        ] {
            assert_eq!(
                AfterSignIn::from_return_to(bad, None),
                AfterSignIn::Home,
                "{bad:?}"
            );
        }
        assert_eq!(AfterSignIn::Home.location(), "/");
        assert_eq!(AfterSignIn::Home.to_return_to(), None);
    }

    #[test]
    fn a_portal_url_on_the_configured_origin_is_kept() {
        let portal = Url::parse("https://portal.example").unwrap();
        let after =
            AfterSignIn::from_return_to(Some("https://portal.example/app?x=1"), Some(&portal));
        assert_eq!(
            after,
            AfterSignIn::Portal("https://portal.example/app?x=1".into())
        );
    }
}
