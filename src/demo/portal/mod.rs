//! The demo portal (`sso-broker demo`, issue 12): a small server-rendered portal application on
//! its own loopback port that signs its users in through the broker's OpenID Provider, as an
//! operator's portal would. "Sign in" goes to the broker; `/callback` verifies the ID token and
//! shows its claims; "Sign out" ends the portal's session and goes to the broker's
//! `end_session_endpoint` with `id_token_hint` and `post_logout_redirect_uri`.
//!
//! Demo only: its sessions live in memory (a random cookie names them; `state`, `nonce` and the
//! PKCE verifier stay on the server, bound to that cookie), and it registers itself as the
//! client `demo-portal` with a new secret at every start. It must never run outside `demo`.

mod relying_party;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use self::relying_party::{PendingSignIn, RelyingParty, SignedIn};
use crate::services::provider::clients::{self, ClientInput};
use crate::services::support::audit::RequestMeta;
use crate::services::ServiceError;
use crate::AppState;

/// The portal's client name at the broker.
pub const CLIENT_NAME: &str = "demo-portal";
const COOKIE: &str = "demo_portal_session";
/// Sessions kept at most; past this the oldest browsers simply sign in again.
const MAX_SESSIONS: usize = 1000;

/// Where the portal listens and how it is registered at the broker.
pub struct PortalConfig {
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub origin: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

impl PortalConfig {
    fn redirect_uri(&self) -> String {
        format!("{}/callback", self.origin)
    }

    fn post_logout_uri(&self) -> String {
        format!("{}/", self.origin)
    }
}

/// Binds the portal's port: the broker's port + 1 when free, else any free loopback port.
pub fn bind(broker: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let next = broker.port().checked_add(1).filter(|_| broker.port() != 0);
    next.and_then(|port| TcpListener::bind((broker.ip(), port)).ok())
        .map_or_else(|| TcpListener::bind((broker.ip(), 0)), Ok)
}

/// Registers the client `demo-portal` for `origin` (creates it, or updates its URIs), with a new
/// secret: the previous run's secret is gone with its process.
pub async fn register(state: &AppState, origin: &str) -> Result<PortalConfig, ServiceError> {
    let input = ClientInput {
        name: CLIENT_NAME.into(),
        client_type: Some("confidential".into()),
        redirect_uris: vec![format!("{origin}/callback")],
        post_logout_redirect_uris: vec![format!("{origin}/")],
        backchannel_logout_uri: None,
        accounts: vec![],
    };
    let existing = clients::list(state)
        .await?
        .into_iter()
        .find(|c| c.name == CLIENT_NAME);
    let created = match existing {
        Some(client) => {
            clients::update(
                state,
                client.client_id.clone(),
                input,
                "demo".into(),
                RequestMeta::cli(),
            )
            .await?;
            clients::rotate_secret(state, client.client_id, "demo".into(), RequestMeta::cli())
                .await?
        }
        None => clients::create(state, input, "demo".into(), RequestMeta::cli()).await?,
    };
    let secret = created.secret.ok_or_else(|| {
        ServiceError::Internal(anyhow::anyhow!("the demo portal's client has no secret"))
    })?;
    Ok(PortalConfig {
        origin: origin.to_string(),
        issuer: state
            .settings
            .public_url
            .as_str()
            .trim_end_matches('/')
            .to_string(),
        client_id: created.client.client_id,
        client_secret: secret,
    })
}

/// One browser's state at the portal.
#[derive(Default)]
struct Session {
    /// Proves a "Sign out" form came from the portal's own page.
    csrf: String,
    pending: Option<PendingSignIn>,
    signed_in: Option<SignedIn>,
}

struct Portal {
    config: PortalConfig,
    rp: tokio::sync::OnceCell<RelyingParty>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Portal {
    /// The RP, discovered at first use (the broker is up by then).
    async fn rp(&self) -> Result<&RelyingParty, relying_party::RpError> {
        let redirect_uri = self.config.redirect_uri();
        self.rp
            .get_or_try_init(|| {
                RelyingParty::discover(
                    &self.config.issuer,
                    &self.config.client_id,
                    self.config.client_secret.expose_secret(),
                    &redirect_uri,
                )
            })
            .await
    }

    /// Runs `f` on this browser's session (made when missing); returns its result and the
    /// cookie to set when the session is new.
    fn with_session<T>(
        &self,
        req: &HttpRequest,
        f: impl FnOnce(&mut Session) -> T,
    ) -> (T, Option<Cookie<'static>>) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let known = req
            .cookie(COOKIE)
            .map(|c| c.value().to_string())
            .filter(|id| sessions.contains_key(id));
        let (id, cookie) = match known {
            Some(id) => (id, None),
            None => {
                if sessions.len() >= MAX_SESSIONS {
                    sessions.clear();
                }
                let id = crate::crypto::tokens::random_token(24);
                let session = Session {
                    csrf: crate::crypto::tokens::random_token(24),
                    ..Session::default()
                };
                sessions.insert(id.clone(), session);
                let cookie = Cookie::build(COOKIE, id.clone())
                    .path("/")
                    .http_only(true)
                    .same_site(SameSite::Lax)
                    .finish();
                (id, Some(cookie))
            }
        };
        let session = sessions.entry(id).or_default();
        (f(session), cookie)
    }
}

#[derive(Template)]
#[template(path = "demo_portal.html")]
struct PortalPage<'a> {
    broker: &'a str,
    csrf_token: String,
    claims: Option<Vec<(String, String)>>,
    notice: Option<&'a str>,
    error: Option<String>,
}

fn render(
    page: PortalPage<'_>,
    status: actix_web::http::StatusCode,
    cookie: Option<Cookie<'static>>,
) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(cookie) = cookie {
        res.cookie(cookie);
    }
    match page.render() {
        Ok(html) => res.body(html),
        Err(e) => HttpResponse::InternalServerError().body(format!("template error: {e}")),
    }
}

#[derive(Deserialize)]
struct HomeQuery {
    /// Present when the broker sent the browser back after signing out.
    state: Option<String>,
}

async fn home(
    portal: web::Data<Portal>,
    req: HttpRequest,
    query: web::Query<HomeQuery>,
) -> HttpResponse {
    let ((csrf_token, claims), cookie) = portal.with_session(&req, |s| {
        (s.csrf.clone(), s.signed_in.as_ref().map(|s| s.rows.clone()))
    });
    let notice = (claims.is_none() && query.state.is_some())
        .then_some("You are signed out of the portal and of the broker.");
    let page = PortalPage {
        broker: &portal.config.issuer,
        csrf_token,
        claims,
        notice,
        error: None,
    };
    render(page, actix_web::http::StatusCode::OK, cookie)
}

fn error_page(portal: &Portal, req: &HttpRequest, message: String) -> HttpResponse {
    let (csrf_token, cookie) = portal.with_session(req, |s| s.csrf.clone());
    let page = PortalPage {
        broker: &portal.config.issuer,
        csrf_token,
        claims: None,
        notice: None,
        error: Some(message),
    };
    render(page, actix_web::http::StatusCode::BAD_REQUEST, cookie)
}

fn see_other(location: &str, cookie: Option<Cookie<'static>>) -> HttpResponse {
    let mut res = HttpResponse::SeeOther();
    res.insert_header((header::LOCATION, location));
    if let Some(cookie) = cookie {
        res.cookie(cookie);
    }
    res.finish()
}

/// "Sign in": a new authorization request, remembered for this browser.
async fn sign_in(portal: web::Data<Portal>, req: HttpRequest) -> HttpResponse {
    let rp = match portal.rp().await {
        Ok(rp) => rp,
        Err(e) => return error_page(&portal, &req, e.to_string()),
    };
    let pending = rp.start();
    let url = pending.url.to_string();
    let ((), cookie) = portal.with_session(&req, |s| s.pending = Some(pending));
    see_other(&url, cookie)
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The broker's answer: checks `state` and `iss`, redeems the code, verifies the ID token.
async fn callback(
    portal: web::Data<Portal>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let (pending, _) = portal.with_session(&req, |s| s.pending.take());
    let Some(pending) = pending else {
        return error_page(
            &portal,
            &req,
            "This browser has no sign-in in progress: start again with Sign in.".into(),
        );
    };
    if query.state.as_deref() != Some(pending.state.as_str()) {
        return error_page(
            &portal,
            &req,
            "The state does not match this browser's sign-in: start again.".into(),
        );
    }
    if let Some(error) = &query.error {
        let description = query.error_description.clone().unwrap_or_default();
        return error_page(
            &portal,
            &req,
            format!("The broker refused the sign-in: {error} {description}"),
        );
    }
    let rp = match portal.rp().await {
        Ok(rp) => rp,
        Err(e) => return error_page(&portal, &req, e.to_string()),
    };
    if !rp.issuer_matches(query.iss.as_deref()) {
        return error_page(
            &portal,
            &req,
            "The answer names another issuer (RFC 9207): refused.".into(),
        );
    }
    let Some(code) = &query.code else {
        return error_page(&portal, &req, "The answer has no code.".into());
    };
    match rp.finish(code, &pending).await {
        Ok(signed_in) => {
            let ((), cookie) = portal.with_session(&req, |s| s.signed_in = Some(signed_in));
            see_other("/", cookie)
        }
        Err(e) => error_page(&portal, &req, e.to_string()),
    }
}

#[derive(Deserialize)]
struct SignOutForm {
    csrf_token: String,
}

/// "Sign out": ends the portal's session, then RP-initiated logout at the broker.
async fn sign_out(
    portal: web::Data<Portal>,
    req: HttpRequest,
    form: web::Form<SignOutForm>,
) -> HttpResponse {
    let (signed_in, _) = portal.with_session(&req, |s| {
        if s.csrf == form.csrf_token {
            s.signed_in.take()
        } else {
            None
        }
    });
    let Some(signed_in) = signed_in else {
        return see_other("/", None);
    };
    let logout = match portal.rp().await {
        Ok(rp) => rp.logout_url(&signed_in.id_token, &portal.config.post_logout_uri()),
        Err(_) => None,
    };
    match logout {
        Some(url) => see_other(url.as_str(), None),
        None => see_other("/", None),
    }
}

async fn stylesheet() -> HttpResponse {
    crate::routes::ops::stylesheet().await
}

/// Binds the portal's port, registers it at the broker and serves it in the background;
/// returns its origin (`http://127.0.0.1:<port>`).
pub async fn start(state: &AppState) -> anyhow::Result<String> {
    let listener = bind(state.settings.bind)?;
    let origin = format!("http://{}", listener.local_addr()?);
    let config = register(state, &origin).await?;
    tokio::spawn(serve(config, listener)?);
    Ok(origin)
}

/// Serves the portal on `listener`.
pub fn serve(config: PortalConfig, listener: TcpListener) -> std::io::Result<Server> {
    let portal = web::Data::from(Arc::new(Portal {
        config,
        rp: tokio::sync::OnceCell::new(),
        sessions: Mutex::new(HashMap::new()),
    }));
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(portal.clone())
            .route("/", web::get().to(home))
            .route("/login", web::get().to(sign_in))
            .route("/callback", web::get().to(callback))
            .route("/logout", web::post().to(sign_out))
            .route("/static/app.css", web::get().to(stylesheet))
    })
    .workers(1)
    .listen(listener)?
    .run())
}
