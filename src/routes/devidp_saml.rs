//! HTTP face of the development IdP's SAML half (SPEC §6.6): an Okta-shaped SAML IdP on its own
//! loopback port, started by `demo`. `GET /saml/metadata` is what an admin imports;
//! `GET /saml/sso` takes an HTTP-Redirect AuthnRequest and lets you pick who signs in;
//! `POST /saml/sso` answers the request's ACS with a signed Response (HTTP-POST binding).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpResponse, HttpServer};
use data_encoding::BASE64;

use crate::clock::SharedClock;
use crate::sso::devidp::saml::{decode_redirect_authn_request, DevSamlIdp, ResponseSpec};
use crate::sso::saml::{claims, xml_escape};

/// A user of the development SAML IdP.
#[derive(Debug, Clone)]
pub struct DevSamlUser {
    pub email: String,
    pub given_name: String,
    pub surname: String,
    /// Whether the IdP reports MFA (`authnmethodsreferences`).
    pub mfa: bool,
}

/// The IdP, its users and its public base URL (`http://127.0.0.1:<port>`).
pub struct DevSamlState {
    pub idp: DevSamlIdp,
    pub base: String,
    pub users: Vec<DevSamlUser>,
    pub clock: SharedClock,
}

impl DevSamlState {
    pub fn entity_id(&self) -> String {
        format!("{}/saml/metadata", self.base)
    }

    pub fn sso_url(&self) -> String {
        format!("{}/saml/sso", self.base)
    }

    pub fn metadata_xml(&self) -> String {
        self.idp.metadata_xml(&self.entity_id(), &self.sso_url())
    }
}

#[derive(serde::Deserialize)]
struct SsoQuery {
    #[serde(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

#[derive(serde::Deserialize)]
struct SsoForm {
    #[serde(rename = "SAMLRequest")]
    saml_request: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
    user: String,
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title></head>\
             <body style=\"font-family:system-ui;max-width:520px;margin:3rem auto;padding:0 1rem;line-height:1.5\"><h1>{}</h1>{body}</body></html>",
            xml_escape(title),
            xml_escape(title)
        ))
}

async fn metadata(state: web::Data<DevSamlState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .body(state.metadata_xml())
}

/// The sign-in page: one button per user.
async fn sso_page(state: web::Data<DevSamlState>, query: web::Query<SsoQuery>) -> HttpResponse {
    let Some(request) = query.saml_request.as_deref() else {
        return HttpResponse::BadRequest().body("SAMLRequest is missing.");
    };
    if let Err(e) = decode_redirect_authn_request(request) {
        return HttpResponse::BadRequest().body(e.to_string());
    }
    let hidden = format!(
        "<input type=\"hidden\" name=\"SAMLRequest\" value=\"{}\"><input type=\"hidden\" name=\"RelayState\" value=\"{}\">",
        xml_escape(request),
        xml_escape(query.relay_state.as_deref().unwrap_or_default())
    );
    let users: String = state
        .users
        .iter()
        .map(|u| {
            format!(
                "<form method=\"post\">{hidden}<input type=\"hidden\" name=\"user\" value=\"{}\"><button type=\"submit\" style=\"margin:.3rem 0;padding:.6rem 1rem\">Sign in as {} {} &lt;{}&gt;{}</button></form>",
                xml_escape(&u.email),
                xml_escape(&u.given_name),
                xml_escape(&u.surname),
                xml_escape(&u.email),
                if u.mfa { " with MFA" } else { " (password only)" }
            )
        })
        .collect();
    page(
        "Okta (development IdP)",
        &format!("<p>Development SAML identity provider: choose who signs in. The response is signed with this IdP's own key.</p>{users}"),
    )
}

/// Signs a Response for the chosen user and posts it to the request's ACS.
async fn sso_submit(state: web::Data<DevSamlState>, form: web::Form<SsoForm>) -> HttpResponse {
    let Ok(request) = decode_redirect_authn_request(&form.saml_request) else {
        return HttpResponse::BadRequest().body("The SAMLRequest cannot be read.");
    };
    let (Some(acs), Some(audience)) = (request.acs_url.as_deref(), request.issuer.as_deref())
    else {
        return HttpResponse::BadRequest()
            .body("The AuthnRequest names no AssertionConsumerServiceURL or Issuer.");
    };
    let Some(user) = state.users.iter().find(|u| u.email == form.user) else {
        return HttpResponse::BadRequest().body("Unknown user.");
    };
    let mut spec = ResponseSpec::new(
        &state.entity_id(),
        acs,
        audience,
        &user.email,
        state.clock.now(),
    );
    spec.in_response_to = Some(request.id.clone());
    spec.attributes = vec![
        (claims::EMAIL.into(), vec![user.email.clone()]),
        (claims::GIVEN_NAME.into(), vec![user.given_name.clone()]),
        (claims::SURNAME.into(), vec![user.surname.clone()]),
        (
            claims::AMR.into(),
            if user.mfa {
                vec!["pwd".into(), claims::MULTIPLE_AUTHN.into()]
            } else {
                vec!["pwd".into()]
            },
        ),
    ];
    let xml = match state.idp.response_xml(&spec) {
        Ok(xml) => xml,
        Err(e) => return HttpResponse::InternalServerError().body(e.to_string()),
    };
    let relay = form
        .relay_state
        .as_deref()
        .map(|r| {
            format!(
                "<input type=\"hidden\" name=\"RelayState\" value=\"{}\">",
                xml_escape(r)
            )
        })
        .unwrap_or_default();
    page(
        "Okta (development IdP)",
        &format!(
            "<p>Signed in as {}. Sending you back to the application…</p>\
             <form id=\"saml\" method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"SAMLResponse\" value=\"{}\">{relay}<button type=\"submit\">Continue</button></form>\
             <script>document.getElementById('saml').submit();</script>",
            xml_escape(&user.email),
            xml_escape(acs),
            BASE64.encode(xml.as_bytes())
        ),
    )
}

/// Serves the SAML development IdP on `listener`.
pub fn serve(state: Arc<DevSamlState>, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::FormConfig::default().limit(64 * 1024))
            .route("/saml/metadata", web::get().to(metadata))
            .route("/saml/sso", web::get().to(sso_page))
            .route("/saml/sso", web::post().to(sso_submit))
    })
    .workers(1)
    .listen(listener)?
    .run())
}
