//! "Log in with SSO" through a SAML connection (SPEC §3.2 steps 3–7, §5): the AuthnRequest with
//! its single-use RelayState, and the ACS that turns a verified response into a session. Every
//! attempt is audited with the check that failed; users only read SPEC's messages.
//!
//! # Security
//! The ACS is a cross-site POST, so the SameSite=Lax session cookie does not come with it. The
//! RelayState (random, single use, ten minutes) is what ties the response to the flow that asked
//! for it: its request id, account, entered email and return URL. Assertion ids are recorded in
//! the database until they expire, so a replay fails on every instance.

use secrecy::SecretString;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::auth::throttle;
use crate::crypto::tokens::{random_token, sha256_hex};
use crate::db::connection::KIND_SAML;
use crate::db::login_flow::LoginFlow;
use crate::db::saml_replay::SamlReplay;
use crate::services::connections::saml::SamlConnection;
use crate::services::sso::flow::{start_flow, FlowBinding, NewFlow, SsoRedirect};
use crate::services::sso::identity::{
    audit_success, refusal_for, resolve_user, sso_session, SsoEvidence, VerifiedIdentity,
};
use crate::services::sso::outcome::SsoSignIn;
use crate::services::sso::outcome::{audit_failure, record_refusal, SsoRefusal};
use crate::services::support::audit::RequestMeta;
use crate::services::ServiceError;
use crate::sso::saml::{authn_request_redirect, verify_acs_response, AcsRules, VerifiedAssertion};
use crate::AppState;

/// Longest accepted RelayState (SAML bindings §3.4.3: 80 bytes; ours are 43).
const MAX_RELAY_STATE: usize = 80;

/// The flow's context, sealed at rest.
#[derive(serde::Serialize, serde::Deserialize)]
struct SamlFlowPayload {
    connection_id: String,
    request_id: String,
    email: String,
    return_to: Option<String>,
    /// The account signed into: the connection's own, or a sub-account without a connection of
    /// its own that signs in through it (SPEC §3.5). `None`: the connection's account.
    #[serde(default)]
    account_id: Option<String>,
}

/// An SSO attempt that `sso_login` routed to a SAML connection.
#[derive(Debug)]
pub struct SamlTarget {
    pub account_id: String,
    pub connection: SamlConnection,
    pub email: String,
    pub return_to: Option<String>,
    pub actor: String,
}

/// SPEC §3.2 step 3 (SAML): stores the flow under its RelayState and redirects to the IdP.
pub async fn begin(
    state: &AppState,
    target: SamlTarget,
    meta: RequestMeta,
) -> Result<SsoRedirect, ServiceError> {
    let now = state.clock.now();
    let relay_state = random_token(32);
    // An NCName: a letter or underscore first.
    let request_id = format!("_{}", sha256_hex(&random_token(32)));
    let sp = target.connection.sp(state.settings.public_url.as_str());
    let settings = &target.connection.settings;
    let signer = match (
        &settings.sp_signing,
        settings.idp.want_authn_requests_signed,
    ) {
        (Some(key), true) => Some(key.private_key(state)?),
        (None, true) => {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "the IdP wants signed AuthnRequests and the connection has no SP key"
            )))
        }
        (_, false) => None,
    };
    let redirect = authn_request_redirect(
        &sp,
        &settings.idp,
        &request_id,
        &relay_state,
        now,
        signer.as_ref(),
    )
    .map_err(|e| ServiceError::Internal(e.into()))?;
    let payload = SamlFlowPayload {
        connection_id: target.connection.row.id.clone(),
        request_id,
        email: target.email,
        return_to: target.return_to,
        account_id: Some(target.account_id.clone()),
    };
    let flow = NewFlow {
        key: &relay_state,
        kind: KIND_SAML,
        account_id: target.account_id,
        actor: target.actor,
    };
    start_flow(state, flow, &payload, meta).await?;
    Ok(SsoRedirect {
        url: redirect.url,
        binding: FlowBinding::Saml(SecretString::from(relay_state)),
    })
}

/// The ACS form (HTTP-POST binding).
#[derive(Debug, Default, serde::Deserialize)]
pub struct AcsForm {
    #[serde(rename = "SAMLResponse")]
    pub saml_response: Option<String>,
    #[serde(rename = "RelayState")]
    pub relay_state: Option<String>,
}

/// The flow a RelayState names, if it is live, unused and for this connection.
async fn take_flow(
    state: &AppState,
    connection_id: &str,
    relay_state: &str,
) -> Result<Option<SamlFlowPayload>, ServiceError> {
    if relay_state.is_empty() || relay_state.len() > MAX_RELAY_STATE {
        return Ok(None);
    }
    let (id, naive) = (sha256_hex(relay_state), state.clock.now_naive());
    let Some(flow) = state
        .db
        .run(move |conn| LoginFlow::consume(conn, &id, naive))
        .await?
        .filter(|f| f.kind == KIND_SAML)
    else {
        return Ok(None);
    };
    let payload: SamlFlowPayload = state
        .keys
        .secret_box
        .open(&flow.payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("login flow payload unreadable")))?;
    Ok((payload.connection_id == connection_id).then_some(payload))
}

/// `POST /sso/saml/acs/{connection_id}`: SPEC §3.2 steps 4–7 for a SAML response.
/// `flow_cookie` is the RelayState this browser was given when it started the sign-in.
pub async fn complete(
    state: &AppState,
    connection_id: String,
    form: AcsForm,
    flow_cookie: Option<String>,
    meta: RequestMeta,
) -> Result<Result<SsoSignIn, SsoRefusal>, ServiceError> {
    let now = state.clock.now();
    let naive = now.naive_utc();
    let id = connection_id.clone();
    let connection = if uuid::Uuid::parse_str(&id).is_ok() {
        state
            .db
            .run(move |conn| SamlConnection::find(conn, &id))
            .await?
    } else {
        None
    };
    let Some(connection) = connection else {
        log::info!(
            "request_id={} ACS for an unknown connection",
            meta.request_id
        );
        return Ok(Err(SsoRefusal::NotConfigured));
    };
    let account_id = connection.row.account_id.clone();
    // Refused responses count as failed SSO steps of the client address: each one costs a
    // signature check, so a flood of them is throttled — in the SSO budget, apart from password
    // guesses (an office's SSO typos do not lock its password users out).
    let ip_bucket = meta.ip.as_deref().map(throttle::sso_ip_bucket);
    if let Some(bucket) = ip_bucket.clone() {
        let throttled = state
            .db
            .run(move |conn| throttle::is_throttled(conn, &bucket, throttle::PER_IP, naive))
            .await?;
        if throttled {
            audit_failure(state, &meta, "anonymous", &account_id, "throttled").await?;
            return Ok(Err(SsoRefusal::Throttled));
        }
    }
    let relay_state = form.relay_state.unwrap_or_default();
    let flow = take_flow(state, &connection_id, &relay_state).await?;
    let actor = flow
        .as_ref()
        .map(|f| format!("anonymous:{}", f.email))
        .unwrap_or_else(|| "anonymous".into());
    let refuse = |refusal: SsoRefusal, reason: String| {
        let (meta, actor, account_id) = (meta.clone(), actor.clone(), account_id.clone());
        async move {
            record_refusal(state, &meta, &actor, &account_id, &reason).await?;
            Ok::<_, ServiceError>(Err(refusal))
        }
    };
    // The flow was started in this browser (login CSRF: an attacker's own, unfinished flow
    // posted from the victim's browser would sign the victim in as the attacker).
    let same_browser = flow_cookie
        .as_deref()
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(relay_state.as_bytes())));
    if flow.is_some() && !same_browser {
        return refuse(SsoRefusal::FlowExpired, "saml_flow_other_browser".into()).await;
    }
    // No live flow: the RelayState is missing, used or expired — unless the connection takes
    // unsolicited responses, which then must not claim to answer a request.
    if flow.is_none() && !connection.settings.allow_idp_initiated {
        let reason = if relay_state.is_empty() {
            "saml_no_relay_state"
        } else {
            "saml_flow_expired"
        };
        return refuse(SsoRefusal::FlowExpired, reason.into()).await;
    }
    let Some(field) = form.saml_response.filter(|f| !f.is_empty()) else {
        return refuse(SsoRefusal::IncorrectCredentials, "saml_no_response".into()).await;
    };
    // xmlsec is CPU work on a parsed document: off the async workers.
    let verified = {
        let sp = connection.sp(state.settings.public_url.as_str());
        let settings = connection.settings.clone();
        let request_id = flow.as_ref().map(|f| f.request_id.clone());
        tokio::task::spawn_blocking(move || {
            let rules = AcsRules {
                sp: &sp,
                idp: &settings.idp,
                request_id: request_id.as_deref(),
                allow_idp_initiated: settings.allow_idp_initiated,
                email_attribute: &settings.email_attribute,
                now,
            };
            verify_acs_response(&field, &rules)
        })
        .await
        .map_err(|e| ServiceError::Internal(e.into()))?
    };
    let verified = match verified {
        Ok(v) => v,
        Err(e) => {
            // The detail is for the operator; attacker-chosen text in it is escaped.
            log::info!(
                "request_id={} SAML response refused: {}",
                meta.request_id,
                e.to_string().escape_debug()
            );
            return refuse(SsoRefusal::IncorrectCredentials, e.code().into()).await;
        }
    };
    if let Err(reason) = check_replay(state, &verified, naive).await? {
        return refuse(SsoRefusal::IncorrectCredentials, reason.into()).await;
    }
    let email = match (&flow, &verified.email) {
        (Some(f), Some(e)) if e.eq_ignore_ascii_case(&f.email) => f.email.clone(),
        (None, Some(e)) => e.clone(),
        (_, None) => {
            return refuse(SsoRefusal::IncorrectCredentials, "saml_no_email".into()).await;
        }
        (Some(_), Some(_)) => {
            return refuse(SsoRefusal::IncorrectCredentials, "email_mismatch".into()).await;
        }
    };
    let identity = VerifiedIdentity {
        kind: KIND_SAML,
        // Scoped to the connection: an entityID is public, and another account's admin could
        // import metadata naming it (link squatting across accounts).
        issuer: format!("saml:{connection_id}:{}", verified.issuer),
        subject: verified.name_id.clone(),
        email,
        tenant_id: None,
        connection_id: connection_id.clone(),
        connection_account_id: account_id.clone(),
    };
    let evidence = SsoEvidence {
        idp: KIND_SAML,
        amr: verified.amr.clone(),
        mfa: verified.mfa_evidence(),
        not_after: verified.session_not_on_or_after,
    };
    // The account the browser asked for (an IdP-initiated response signs into the connection's).
    let account_id = flow
        .as_ref()
        .and_then(|f| f.account_id.clone())
        .unwrap_or_else(|| account_id.clone());
    let user = match resolve_user(state, &account_id, &identity, &evidence, &meta, naive).await? {
        Ok(user) => user,
        Err(reason) => return refuse(refusal_for(reason), reason.into()).await,
    };
    let signed_in = sso_session(&user.id, &identity, &account_id, evidence, now);
    let reason = json!({
        "idp": verified.issuer,
        "mfa": signed_in.mfa,
        "idp_initiated": !verified.solicited,
    })
    .to_string();
    audit_success(state, meta, account_id, &user.username, reason).await?;
    Ok(Ok(SsoSignIn {
        signed_in,
        return_to: flow.and_then(|f| f.return_to),
    }))
}

/// Records the assertion's first use — in Redis when sessions are there (`SET NX` with the
/// assertion's remaining lifetime), else in the database — and `Err(reason)` for a replay.
async fn check_replay(
    state: &AppState,
    verified: &VerifiedAssertion,
    now: chrono::NaiveDateTime,
) -> Result<Result<(), &'static str>, ServiceError> {
    let key = sha256_hex(&format!("{}\n{}", verified.issuer, verified.assertion_id));
    let until = verified.replay_until.naive_utc();
    let first = match state.session_store.redis_connection() {
        Some((mut conn, prefix)) => {
            let ttl_ms = (until - now).num_milliseconds().max(1000);
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{prefix}:saml-replay:{key}"))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query_async(&mut conn)
                .await
                .map_err(|e| ServiceError::Internal(e.into()))?;
            set.is_some()
        }
        None => {
            state
                .db
                .run(move |conn| SamlReplay::record_first_use(conn, &key, until, now))
                .await?
        }
    };
    Ok(if first { Ok(()) } else { Err("SS0118") })
}
