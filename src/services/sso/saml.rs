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

use crate::auth::throttle;
use crate::crypto::tokens::{random_token, sha256_hex};
use crate::db::saml_replay::SamlReplay;
use crate::db::user::User;
use crate::domain::{AfterSignIn, IdpKind};
use crate::services::connections::saml::SamlConnection;
use crate::services::sign_in::attempt::{Attempt, Method};
use crate::services::sign_in::failure::SignInFailure;
use crate::services::sso::flow::{self, FlowBinding, FlowKind, SsoRedirect};
use crate::services::sso::identity::{idp_name, resolve_user, VerifiedIdentity};
use crate::services::sso::outcome::SsoSignIn;
use crate::services::support::audit::RequestMeta;
use crate::services::ServiceError;
use crate::sso::saml::{authn_request_redirect, verify_acs_response, AcsRules, VerifiedAssertion};
use crate::work_pool::Reservation;
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

/// An SSO attempt that `sso::start` routed to a SAML connection.
#[derive(Debug)]
pub struct SamlTarget {
    pub account_id: String,
    pub connection: SamlConnection,
    pub email: String,
    pub after: AfterSignIn,
}

/// SPEC §3.2 step 3 (SAML): stores the flow under its RelayState and redirects to the IdP.
pub async fn begin(state: &AppState, target: SamlTarget) -> Result<SsoRedirect, ServiceError> {
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
        return_to: target.after.to_return_to(),
        account_id: Some(target.account_id.clone()),
    };
    let (key, kind) = (&relay_state, FlowKind::SamlSignIn);
    flow::store(state, key, kind, &target.account_id, &payload).await?;
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

/// The live flow a RelayState names, if it is for this connection, and whether this browser
/// started it.
async fn take_flow(
    state: &AppState,
    connection_id: &str,
    relay_state: &str,
    cookie: Option<&str>,
) -> Result<Option<(SamlFlowPayload, bool)>, ServiceError> {
    if relay_state.len() > MAX_RELAY_STATE {
        return Ok(None);
    }
    let Some(flow) = flow::take(state, relay_state, cookie)
        .await?
        .filter(|f| f.kind == FlowKind::SamlSignIn)
    else {
        return Ok(None);
    };
    let payload: SamlFlowPayload = flow.open(state)?;
    Ok((payload.connection_id == connection_id).then_some((payload, flow.same_browser)))
}

/// The connection an ACS URL names, if its id is well-formed and it exists.
async fn find_connection(
    state: &AppState,
    connection_id: &str,
) -> Result<Option<SamlConnection>, ServiceError> {
    if uuid::Uuid::parse_str(connection_id).is_err() {
        return Ok(None);
    }
    let id = connection_id.to_string();
    state
        .db
        .run(move |conn| SamlConnection::find(conn, &id))
        .await
}

/// Whether the client address is over its SSO budget. Refused responses count as failed SSO
/// steps of the address: each one costs a signature check, so a flood of them is throttled —
/// in the SSO budget, apart from password guesses (an office's SSO typos do not lock its
/// password users out).
async fn sso_throttled(state: &AppState, meta: &RequestMeta) -> Result<bool, ServiceError> {
    let Some(bucket) = meta.ip.as_deref().map(throttle::sso_ip_bucket) else {
        return Ok(false);
    };
    let now = state.clock.now_naive();
    Ok(state
        .db
        .run(move |conn| throttle::is_throttled(conn, &bucket, throttle::PER_IP, now))
        .await?)
}

/// `POST /sso/saml/acs/{connection_id}`: SPEC §3.2 steps 4–7 for a SAML response.
/// `flow_cookie` is the RelayState this browser was given when it started the sign-in. Every
/// refusal is recorded here, once, and comes back as `ServiceError::SignIn`.
pub async fn complete(
    state: &AppState,
    connection_id: String,
    form: AcsForm,
    flow_cookie: Option<String>,
    meta: RequestMeta,
) -> Result<SsoSignIn, ServiceError> {
    let Some(connection) = find_connection(state, &connection_id).await? else {
        log::info!(
            "request_id={} ACS for an unknown connection",
            meta.request_id
        );
        return Err(SignInFailure::UnknownConnection.into());
    };
    let account_id = connection.row.account_id.clone();
    if sso_throttled(state, &meta).await? {
        let attempt = Attempt::new(Method::Sso, "anonymous".into(), Some(&account_id));
        attempt
            .record_sso_failure(state, &meta, &SignInFailure::Throttled)
            .await?;
        return Err(SignInFailure::Throttled.into());
    }
    // A place for the signature check, weighed by the response's size, before anything is
    // spent: a busy broker refuses with the flow and the assertion unused, so the same
    // response can be posted again in a moment. (The reads above spend nothing, and a
    // throttled address is refused without taking a place.)
    let size = form.saml_response.as_ref().map_or(0, String::len);
    let place = state.saml_checks.reserve_units(kib(size))?;
    let relay_state = form.relay_state.clone().unwrap_or_default();
    let flow = take_flow(state, &connection_id, &relay_state, flow_cookie.as_deref()).await?;
    let actor = flow
        .as_ref()
        .map(|(f, _)| format!("anonymous:{}", f.email))
        .unwrap_or_else(|| "anonymous".into());
    let attempt = Attempt::new(Method::Sso, actor, Some(&account_id));
    let acs = Acs {
        connection: &connection,
        flow,
        relay_state: &relay_state,
        place,
    };
    match acs.sign_in(state, form.saml_response, &meta).await {
        Err(ServiceError::SignIn(failure)) => {
            attempt.record_sso_failure(state, &meta, &failure).await?;
            Err(failure.into())
        }
        Err(e) => Err(e),
        Ok(done) => {
            let signed_in =
                done.identity
                    .session(&done.user.id, &done.account_id, state.clock.now());
            Ok(SsoSignIn {
                signed_in,
                after: done.after,
            })
        }
    }
}

/// Whole KiB, rounded up, that `bytes` weigh in the check pool.
fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// One response at the ACS, with the flow its RelayState named (if any).
struct Acs<'a> {
    connection: &'a SamlConnection,
    /// The flow, and whether this browser started it.
    flow: Option<(SamlFlowPayload, bool)>,
    relay_state: &'a str,
    /// The place in `AppState::saml_checks` the signature check runs in.
    place: Reservation,
}

/// A response that signs someone in.
struct AcsSignIn {
    identity: VerifiedIdentity,
    user: User,
    account_id: String,
    after: AfterSignIn,
}

impl Acs<'_> {
    /// The flow checks, the response's verification (SPEC §5), the email rule (§3.2 step 4)
    /// and the user it signs in as.
    async fn sign_in(
        self,
        state: &AppState,
        response: Option<String>,
        meta: &RequestMeta,
    ) -> Result<AcsSignIn, ServiceError> {
        self.check_flow()?;
        let field = response
            .filter(|f| !f.is_empty())
            .ok_or(SignInFailure::NoSamlResponse)?;
        let flow = self.flow.map(|(f, _)| f);
        let request_id = flow.as_ref().map(|f| f.request_id.clone());
        let verified = verify(state, self.connection, self.place, field, request_id, meta).await?;
        check_replay(state, &verified).await?;
        let email = match (&flow, &verified.email) {
            (Some(f), Some(e)) if e.eq_ignore_ascii_case(&f.email) => f.email.clone(),
            (None, Some(e)) => e.clone(),
            (_, None) => return Err(SignInFailure::NoTrustedEmail { saml: true }.into()),
            (Some(_), Some(_)) => return Err(SignInFailure::EmailMismatch.into()),
        };
        let connection_id = &self.connection.row.id;
        let owner = &self.connection.row.account_id;
        let identity = VerifiedIdentity {
            kind: IdpKind::Saml,
            // Scoped to the connection: an entityID is public, and another account's admin
            // could import metadata naming it (link squatting across accounts).
            issuer: format!("saml:{connection_id}:{}", verified.issuer),
            subject: verified.name_id.clone(),
            email,
            tenant_id: None,
            connection_id: connection_id.clone(),
            connection_account_id: owner.clone(),
            amr: verified.amr.clone(),
            mfa: verified.mfa_evidence(),
            not_after: verified.session_not_on_or_after,
            given_name: idp_name(verified.given_name.as_deref()),
            family_name: idp_name(verified.surname.as_deref()),
        };
        // The account the browser asked for (an IdP-initiated response signs into the
        // connection's).
        let account_id = flow
            .as_ref()
            .and_then(|f| f.account_id.clone())
            .unwrap_or_else(|| owner.clone());
        let reason = json!({
            "idp": verified.issuer,
            "mfa": identity.mfa,
            "idp_initiated": !verified.solicited,
        })
        .to_string();
        let now = state.clock.now_naive();
        let user = resolve_user(state, &account_id, &identity, reason, meta, now).await?;
        let portal = state.settings.portal_url.as_ref();
        let return_to = flow.and_then(|f| f.return_to);
        Ok(AcsSignIn {
            identity,
            user,
            account_id,
            after: AfterSignIn::from_return_to(return_to.as_deref(), portal),
        })
    }

    /// The flow was started in this browser (login CSRF: an attacker's own, unfinished flow
    /// posted from the victim's browser would sign the victim in as the attacker). With no live
    /// flow (RelayState missing, used or expired) only a connection that takes unsolicited
    /// responses goes on, and the response then must not claim to answer a request.
    fn check_flow(&self) -> Result<(), SignInFailure> {
        match &self.flow {
            Some((_, true)) => Ok(()),
            Some((_, false)) => Err(SignInFailure::FlowOfAnotherBrowser),
            None if self.connection.settings.allow_idp_initiated => Ok(()),
            None if self.relay_state.is_empty() => Err(SignInFailure::NoRelayState),
            None => Err(SignInFailure::FlowExpired),
        }
    }
}

/// Verifies the response with xmlsec — CPU work on a parsed document, off the async workers,
/// in the place the request holds in `AppState::saml_checks`.
async fn verify(
    state: &AppState,
    connection: &SamlConnection,
    place: Reservation,
    field: String,
    request_id: Option<String>,
    meta: &RequestMeta,
) -> Result<VerifiedAssertion, ServiceError> {
    let sp = connection.sp(state.settings.public_url.as_str());
    let settings = connection.settings.clone();
    let now = state.clock.now();
    let verified = place
        .run(move || {
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
        .await?;
    verified.map_err(|e| {
        // The detail is for the operator; attacker-chosen text in it is escaped.
        log::info!(
            "request_id={} SAML response refused: {}",
            meta.request_id,
            e.to_string().escape_debug()
        );
        SignInFailure::from(e).into()
    })
}

/// Records the assertion's first use — in Redis when sessions are there (`SET NX` with the
/// assertion's remaining lifetime), else in the database — and refuses a replay (`SS0118`).
async fn check_replay(state: &AppState, verified: &VerifiedAssertion) -> Result<(), ServiceError> {
    let now = state.clock.now_naive();
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
    if first {
        Ok(())
    } else {
        Err(SignInFailure::from(crate::sso::SsoError::SamlReplay).into())
    }
}
