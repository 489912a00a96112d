//! An account's SAML connection (SPEC §5, §6.3 `connections` kind `saml`): IdP metadata imported
//! once (entityID, SSO URL, signing certificates), the email attribute, IdP-initiated sign-in,
//! and certificate rollover (a current and a next certificate). One SAML connection per account.

use chrono::NaiveDateTime;

use crate::db::account::Account;
use crate::db::connection::{IdpConnection, KIND_SAML};
use crate::db::identity_link::IdentityLink;
use crate::db::DbConnection;
use crate::domain::saml_certificates::{self, CertificateRefusal};
use crate::services::admin::accounts::{find_account, require_sso_available};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::sso::saml::metadata::normalize_certificate;
use crate::sso::saml::{claims, parse_idp_metadata, IdpSettings, SpSettings};
use crate::sso::SsoError;
use crate::AppState;

/// Namespace of SAML connection ids (UUIDv5 of the account id): an admin can give the IdP our
/// ACS URL and entityID before the IdP's metadata exists (Okta asks for them first).
const CONNECTION_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5d0b_2c1e_6a4f_4e8b_9c3d_7f21_a6b4_e905);

/// The id the account's SAML connection has, or will have.
pub fn connection_id_for(account_id: &str) -> String {
    uuid::Uuid::new_v5(&CONNECTION_ID_NAMESPACE, account_id.as_bytes()).to_string()
}

pub use crate::domain::saml_certificates::MAX_CERTIFICATES;

/// The `settings` JSON of a SAML connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SamlConnectionSettings {
    pub idp: IdpSettings,
    /// The attribute that holds the user's email (the admin can fix "the IdP sends the wrong
    /// email field").
    pub email_attribute: String,
    pub allow_idp_initiated: bool,
    /// The key that signs our AuthnRequests for IdPs that want them signed.
    #[serde(default)]
    pub sp_signing: Option<SpSigningKey>,
}

/// The connection's own SP key: the private key sealed with the installation key, and its
/// self-signed certificate (base64 DER) as published in our SP metadata.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpSigningKey {
    pub sealed_private_key: String,
    pub certificate: String,
}

impl std::fmt::Debug for SpSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpSigningKey")
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl SpSigningKey {
    /// A new key for a connection of `public_url`.
    pub fn generate(state: &AppState) -> Result<Self, ServiceError> {
        let host = state.settings.public_url.host_str().unwrap_or("sso-broker");
        let (key, cert) = crate::crypto::self_signed::generate(&format!("{host} SAML SP"))
            .map_err(|e| ServiceError::Internal(e.into()))?;
        let der = key
            .private_key_to_der()
            .map_err(|e| ServiceError::Internal(e.into()))?;
        let cert = cert
            .to_der()
            .map_err(|e| ServiceError::Internal(e.into()))?;
        Ok(Self {
            sealed_private_key: state.keys.secret_box.seal(&der),
            certificate: data_encoding::BASE64.encode(&cert),
        })
    }

    /// The private key, unsealed for one signature.
    pub fn private_key(
        &self,
        state: &AppState,
    ) -> Result<openssl::pkey::PKey<openssl::pkey::Private>, ServiceError> {
        let der = state
            .keys
            .secret_box
            .open(&self.sealed_private_key)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("SP key unreadable: {e}")))?;
        openssl::pkey::PKey::private_key_from_der(&der)
            .map_err(|e| ServiceError::Internal(e.into()))
    }
}

/// A SAML connection as admins and the API see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SamlConnectionView {
    pub id: String,
    pub kind: &'static str,
    pub sp_entity_id: String,
    pub acs_url: String,
    pub sp_metadata_url: String,
    pub idp_entity_id: String,
    pub idp_sso_url: String,
    pub email_attribute: String,
    pub allow_idp_initiated: bool,
    pub certificates: Vec<CertificateView>,
    /// Whether the IdP wants signed AuthnRequests (then ours are signed).
    pub authn_requests_signed: bool,
    /// Our SP signing certificate (PEM), for IdPs that verify signed AuthnRequests.
    pub sp_signing_certificate: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CertificateView {
    /// SHA-256 fingerprint, colon-separated hex (what IdP admin consoles show).
    pub sha256_fingerprint: String,
    pub subject: String,
    pub not_after: String,
}

/// What an admin or operator sends to create or change the connection.
#[derive(Debug, Clone, Default)]
pub struct SamlConnectionInput {
    pub idp_metadata_xml: Option<String>,
    pub email_attribute: Option<String>,
    pub allow_idp_initiated: Option<bool>,
}

/// A loaded SAML connection.
#[derive(Debug, Clone)]
pub struct SamlConnection {
    pub row: IdpConnection,
    pub settings: SamlConnectionSettings,
}

impl SamlConnection {
    pub fn sp(&self, public_url: &str) -> SpSettings {
        SpSettings::for_connection(public_url, &self.row.id)
    }

    pub fn view(&self, public_url: &str) -> SamlConnectionView {
        let sp = self.sp(public_url);
        SamlConnectionView {
            id: self.row.id.clone(),
            kind: KIND_SAML,
            sp_metadata_url: sp.entity_id.clone(),
            sp_entity_id: sp.entity_id,
            acs_url: sp.acs_url,
            idp_entity_id: self.settings.idp.entity_id.clone(),
            idp_sso_url: self.settings.idp.sso_url.clone(),
            email_attribute: self.settings.email_attribute.clone(),
            allow_idp_initiated: self.settings.allow_idp_initiated,
            certificates: self
                .settings
                .idp
                .certificates
                .iter()
                .map(|c| certificate_view(c))
                .collect(),
            authn_requests_signed: self.settings.idp.want_authn_requests_signed,
            sp_signing_certificate: self
                .settings
                .sp_signing
                .as_ref()
                .map(|k| pem(&k.certificate)),
        }
    }

    /// Our SP metadata for this connection.
    pub fn sp_metadata(&self, public_url: &str) -> String {
        crate::sso::saml::sp_metadata_xml(
            &self.sp(public_url),
            self.settings
                .sp_signing
                .as_ref()
                .map(|k| k.certificate.as_str()),
            self.settings.idp.want_authn_requests_signed,
        )
    }

    /// The account's SAML connection, if any.
    pub fn for_account(
        conn: &mut DbConnection,
        account_id: &str,
    ) -> Result<Option<Self>, ServiceError> {
        IdpConnection::find_kind(conn, account_id, KIND_SAML)?
            .map(Self::from_row)
            .transpose()
    }

    /// The SAML connection `id`, if it exists.
    pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<Self>, ServiceError> {
        IdpConnection::find(conn, id)?
            .filter(|row| row.kind == KIND_SAML)
            .map(Self::from_row)
            .transpose()
    }

    fn from_row(row: IdpConnection) -> Result<Self, ServiceError> {
        let settings = serde_json::from_str(&row.settings).map_err(|e| {
            ServiceError::Internal(anyhow::anyhow!("SAML settings unreadable: {e}"))
        })?;
        Ok(Self { row, settings })
    }
}

/// A base64 DER certificate as PEM text.
fn pem(b64: &str) -> String {
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

fn certificate_view(b64: &str) -> CertificateView {
    let parsed = data_encoding::BASE64
        .decode(b64.as_bytes())
        .ok()
        .and_then(|der| openssl::x509::X509::from_der(&der).ok());
    let Some(cert) = parsed else {
        return CertificateView {
            sha256_fingerprint: "unreadable".into(),
            subject: String::new(),
            not_after: String::new(),
        };
    };
    let fingerprint = cert
        .digest(openssl::hash::MessageDigest::sha256())
        .map(|d| {
            d.iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_default();
    let subject = cert
        .subject_name()
        .entries()
        .filter_map(|e| e.data().to_string().ok())
        .collect::<Vec<_>>()
        .join(", ");
    CertificateView {
        sha256_fingerprint: fingerprint,
        subject,
        not_after: cert.not_after().to_string(),
    }
}

fn invalid(message: String) -> ServiceError {
    ServiceError::Unprocessable {
        code: "invalid_saml_settings",
        message,
    }
}

/// The admin-facing reason an IdP metadata document cannot be used.
fn metadata_problem(e: &SsoError) -> String {
    let why = match e {
        SsoError::SamlMetadata(why) => why,
        SsoError::SamlDoctype => "it declares a DTD or entities, which are refused",
        SsoError::SamlTooLarge => "it is larger than 512 KiB",
        _ => "it cannot be read",
    };
    format!("The IdP metadata cannot be used: {why}.")
}

/// Reads and checks IdP metadata XML.
pub fn import_metadata(xml: &str) -> Result<IdpSettings, ServiceError> {
    let idp = parse_idp_metadata(xml).map_err(|e| invalid(metadata_problem(&e)))?;
    if idp.certificates.len() > MAX_CERTIFICATES {
        return Err(invalid(format!(
            "The IdP metadata lists {} signing certificates; at most {MAX_CERTIFICATES} (the current and the next) are accepted.",
            idp.certificates.len()
        )));
    }
    Ok(idp)
}

fn email_attribute(input: Option<&str>) -> Result<String, ServiceError> {
    let value = input.map(str::trim).filter(|v| !v.is_empty());
    let Some(value) = value else {
        return Ok(claims::EMAIL.to_string());
    };
    if value.len() > 256 || value.chars().any(char::is_control) {
        return Err(invalid(
            "The email attribute must be an attribute name of at most 256 characters.".into(),
        ));
    }
    Ok(value.to_string())
}

fn audit_change(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: NaiveDateTime,
    actor: String,
    account_id: &str,
    action: &'static str,
    reason: &str,
) -> Result<(), ServiceError> {
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor,
            account_id: Some(account_id),
            action,
            outcome: Outcome::Success,
            reason: Some(reason),
        },
    )?;
    Ok(())
}

/// Creates the account's SAML connection from the IdP's metadata.
pub async fn create(
    state: &AppState,
    account: String,
    input: SamlConnectionInput,
    actor: String,
    meta: RequestMeta,
) -> Result<SamlConnectionView, ServiceError> {
    let xml = input
        .idp_metadata_xml
        .as_deref()
        .filter(|x| !x.trim().is_empty())
        .ok_or_else(|| invalid("Paste or upload the IdP metadata XML.".into()))?;
    let settings = SamlConnectionSettings {
        idp: import_metadata(xml)?,
        email_attribute: email_attribute(input.email_attribute.as_deref())?,
        allow_idp_initiated: input.allow_idp_initiated.unwrap_or(false),
        sp_signing: Some(SpSigningKey::generate(state)?),
    };
    let json = serde_json::to_string(&settings).map_err(|e| ServiceError::Internal(e.into()))?;
    let now = state.clock.now_naive();
    let public_url = state.settings.public_url.to_string();
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = find_account(conn, &account)?;
                require_sso_available(&st, &account)?;
                if IdpConnection::find_kind(conn, &account.id, KIND_SAML)?.is_some() {
                    return Err(ServiceError::Conflict {
                        code: "connection_exists",
                        message: "This account has a SAML connection already.",
                    });
                }
                let row = IdpConnection {
                    id: connection_id_for(&account.id),
                    account_id: account.id.clone(),
                    kind: KIND_SAML.into(),
                    settings: json,
                    created_at: now,
                };
                row.insert(conn)?;
                let reason = serde_json::json!({
                    "kind": KIND_SAML,
                    "idp": settings.idp.entity_id,
                })
                .to_string();
                audit_change(
                    conn,
                    &meta,
                    now,
                    actor,
                    &account.id,
                    "connection.create",
                    &reason,
                )?;
                Ok(SamlConnection { row, settings }.view(&public_url))
            })
        })
        .await
}

/// A change an admin makes to the connection.
#[derive(Debug, Clone)]
pub enum SamlChange {
    /// New metadata (entityID, SSO URL and certificates replaced), email attribute, IdP-initiated.
    Settings(SamlConnectionInput),
    /// Trust a second certificate too (the IdP's next one, before it switches).
    AddCertificate(String),
    /// Stop trusting a certificate (by SHA-256 fingerprint); the last one cannot be removed.
    RemoveCertificate(String),
}

impl SamlChange {
    /// Applies the change to `settings`; returns its audit action.
    fn apply_to(self, settings: &mut SamlConnectionSettings) -> Result<&'static str, ServiceError> {
        match self {
            Self::Settings(input) => {
                if let Some(xml) = input.idp_metadata_xml.filter(|x| !x.trim().is_empty()) {
                    settings.idp = import_metadata(&xml)?;
                }
                settings.email_attribute = email_attribute(input.email_attribute.as_deref())?;
                if let Some(allow) = input.allow_idp_initiated {
                    settings.allow_idp_initiated = allow;
                }
                Ok("connection.update")
            }
            Self::AddCertificate(pem) => {
                let cert = normalize_certificate(&pem).map_err(|e| {
                    invalid(metadata_problem(&e).replace("IdP metadata", "certificate"))
                })?;
                saml_certificates::add(&mut settings.idp.certificates, cert)
                    .map_err(certificate_refused)?;
                Ok("connection.certificate_add")
            }
            Self::RemoveCertificate(fingerprint) => {
                saml_certificates::remove(&mut settings.idp.certificates, |c| {
                    certificate_view(c).sha256_fingerprint == fingerprint
                })
                .map_err(certificate_refused)?;
                Ok("connection.certificate_remove")
            }
        }
    }
}

fn certificate_refused(refusal: CertificateRefusal) -> ServiceError {
    match refusal {
        CertificateRefusal::TooMany => invalid(format!(
            "A connection trusts at most {MAX_CERTIFICATES} certificates; remove the old one first."
        )),
        CertificateRefusal::LastOne => invalid(
            "The last certificate cannot be removed: sign-ins would have nothing to check.".into(),
        ),
        CertificateRefusal::Unknown => ServiceError::NotFound {
            code: "certificate_not_found",
            message: "The connection has no certificate with this fingerprint.",
        },
    }
}

/// Applies `change` to the account's SAML connection.
pub async fn update(
    state: &AppState,
    account_id: String,
    change: SamlChange,
    actor: String,
    meta: RequestMeta,
) -> Result<SamlConnectionView, ServiceError> {
    let now = state.clock.now_naive();
    let public_url = state.settings.public_url.to_string();
    let st = state.clone();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = Account::find(conn, &account_id)?
                    .ok_or_else(ServiceError::account_not_found)?;
                require_sso_available(&st, &account)?;
                let mut current = SamlConnection::for_account(conn, &account_id)?.ok_or(
                    ServiceError::NotFound {
                        code: "connection_not_found",
                        message: "This account has no SAML connection.",
                    },
                )?;
                let action = change.apply_to(&mut current.settings)?;
                let json = serde_json::to_string(&current.settings)
                    .map_err(|e| ServiceError::Internal(e.into()))?;
                IdpConnection::set_settings(conn, &current.row.id, &json)?;
                current.row.settings = json;
                let reason = serde_json::json!({
                    "idp": current.settings.idp.entity_id,
                    "certificates": current.settings.idp.certificates.len(),
                })
                .to_string();
                audit_change(conn, &meta, now, actor, &account_id, action, &reason)?;
                Ok(current.view(&public_url))
            })
        })
        .await
}

/// Removes the account's SAML connection and the identity links made through it. Sessions it
/// admitted end at their next request (SPEC §3.8). Refused while SSO is enforced and the account
/// has no other connection to sign in through: its users would be locked out.
pub async fn remove(
    state: &AppState,
    account_id: String,
    actor: String,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let current =
                    SamlConnection::for_account(conn, &account_id)?.ok_or(ServiceError::NotFound {
                        code: "connection_not_found",
                        message: "This account has no SAML connection.",
                    })?;
                let others = crate::services::trust::usable_connections(conn, &account_id)?
                    .into_iter()
                    .filter(|c| c.id != current.row.id)
                    .count();
                if crate::services::admin::sso_settings::load_policy(conn, &account_id)?.is_enforced() && others == 0
                {
                    return Err(ServiceError::Conflict {
                        code: "connection_in_use",
                        message: "SSO is enforced for this account: turn enforcement off on the SSO page before you remove its only connection, or your users could not sign in.",
                    });
                }
                IdpConnection::delete(conn, &current.row.id)?;
                let links = IdentityLink::delete_for_saml_connection(conn, &current.row.id)?;
                let reason = serde_json::json!({
                    "idp": current.settings.idp.entity_id,
                    "identity_links": links,
                })
                .to_string();
                audit_change(
                    conn,
                    &meta,
                    now,
                    actor,
                    &account_id,
                    "connection.remove",
                    &reason,
                )
            })
        })
        .await
}

/// The account's SAML connection, for the admin page.
pub async fn show(
    state: &AppState,
    account_id: String,
) -> Result<Option<SamlConnectionView>, ServiceError> {
    let public_url = state.settings.public_url.to_string();
    state
        .db
        .run(move |conn| {
            Ok(SamlConnection::for_account(conn, &account_id)?.map(|c| c.view(&public_url)))
        })
        .await
}

/// SP metadata of connection `id` (public: IdP admins download it).
pub async fn sp_metadata(state: &AppState, id: String) -> Result<Option<String>, ServiceError> {
    let public_url = state.settings.public_url.to_string();
    state
        .db
        .run(move |conn| Ok(SamlConnection::find(conn, &id)?.map(|c| c.sp_metadata(&public_url))))
        .await
}
