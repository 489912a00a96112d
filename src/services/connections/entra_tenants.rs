//! Microsoft Entra ID use cases: approving a customer's tenant after admin consent (SPEC §3.3
//! step 4), re-checking it, and validating Entra tokens for the operator API (SPEC §6.3).

use std::sync::Arc;

use serde_json::Value;

use crate::config::Settings;
use crate::crypto::tokens::sha256_hex;
use crate::db::account::Account;
use crate::db::approved_tenant::{ApprovedTenant, STATUS_APPROVED, STATUS_REVOKED};
use crate::db::connection::{IdpConnection, KIND_ENTRA};
use crate::domain::messages;
use crate::services::admin::accounts::{find_account, require_sso_available};
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::sso::entra::id_token::{validate_parsed, UnverifiedToken};
use crate::sso::entra::oidc_client::OidcClients;
use crate::sso::entra::{
    ConsentProof, EntraApp, HttpJwksSource, KeyCache, TenantId, TenantProfile, TokenRules,
};
use crate::sso::SsoError;
use crate::AppState;

/// The Entra app and its signing-key cache; present when the broker has Entra credentials.
pub struct EntraRuntime {
    pub app: EntraApp,
    pub keys: KeyCache,
    pub oidc: OidcClients,
}

impl EntraRuntime {
    /// `None` when `SSO_BROKER_ENTRA_CLIENT_ID` is unset (Entra connections unavailable).
    /// Signing keys are kept in `db` for outages (`entra_keys`).
    pub fn from_settings(
        settings: &Settings,
        db: &crate::db::Db,
        clock: &crate::clock::SharedClock,
    ) -> Result<Option<Arc<Self>>, SsoError> {
        let (Some(client_id), Some(secret)) =
            (&settings.entra_client_id, &settings.entra_client_secret)
        else {
            return Ok(None);
        };
        let app = EntraApp::new(
            client_id.clone(),
            secret.clone(),
            settings.entra_authority.clone(),
            settings.graph_url.clone(),
            settings.idp_timeout,
        )?;
        let source = super::entra_keys::StoredJwksSource::new(
            HttpJwksSource::new(settings.entra_authority.clone(), settings.idp_timeout)?,
            db.clone(),
            clock.clone(),
        );
        let redirect_uri = settings.public_link("/sso/oidc/callback");
        let oidc = OidcClients::new(
            settings.entra_authority.clone(),
            client_id.clone(),
            secret.clone(),
            &redirect_uri,
            settings.idp_timeout,
        )?;
        Ok(Some(Arc::new(Self {
            app,
            keys: KeyCache::new(Arc::new(source)),
            oidc,
        })))
    }
}

/// An approved tenant as the operator API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantView {
    pub tenant_id: String,
    pub display_name: String,
    pub verified_domains: Vec<String>,
    pub status: String,
    pub last_checked_at: String,
}

impl From<&ApprovedTenant> for TenantView {
    fn from(row: &ApprovedTenant) -> Self {
        Self {
            tenant_id: row.tenant_id.clone(),
            display_name: row.display_name.clone(),
            verified_domains: row.domains(),
            status: row.status.clone(),
            last_checked_at: row
                .last_checked_at
                .and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}

/// A token that `POST /api/v1/entra/validate` accepted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidatedToken {
    pub accounts: Vec<String>,
    pub tenant_id: String,
    pub oid: String,
    /// `null` when SPEC §4 does not trust the token's email.
    pub email: Option<String>,
    pub claims: Value,
}

pub fn runtime(state: &AppState) -> Result<Arc<EntraRuntime>, ServiceError> {
    state.entra.clone().ok_or_else(|| ServiceError::Conflict {
        code: "entra_not_configured",
        message:
            "Microsoft Entra ID is not configured on this broker (SSO_BROKER_ENTRA_CLIENT_ID).",
    })
}

fn parse_tenant(input: &str) -> Result<TenantId, ServiceError> {
    TenantId::parse(input.trim()).map_err(|e| ServiceError::Unprocessable {
        code: "invalid_tenant_id",
        message: match e {
            SsoError::PersonalAccountTenant => {
                "Personal Microsoft accounts cannot be connected; use the organization's tenant id."
                    .into()
            }
            _ => "The tenant id must be a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47.".into(),
        },
    })
}

fn unreachable_error() -> ServiceError {
    ServiceError::BadGateway {
        code: "idp_unreachable",
        message: messages::IDP_UNREACHABLE.to_string(),
    }
}

fn record(
    state: &AppState,
    meta: &RequestMeta,
    actor: &str,
    account: &Account,
    action: &'static str,
    outcome: Outcome,
    reason: String,
) -> impl FnOnce(&mut crate::db::DbConnection) -> Result<(), ServiceError> + Send + 'static {
    let (meta, actor, account_id, now) = (
        meta.clone(),
        actor.to_string(),
        account.id.clone(),
        state.clock.now_naive(),
    );
    move |conn| {
        audit::record(
            conn,
            &meta,
            now,
            Audit {
                actor,
                account_id: Some(&account_id),
                action,
                outcome,
                reason: Some(&reason),
            },
        )?;
        Ok(())
    }
}

/// Proves the consent and records the tenant as approved for `account` (SPEC §3.3 steps 4–5).
/// Nothing is recorded unless Microsoft issued a token and Graph named the same tenant.
pub async fn approve_tenant(
    state: &AppState,
    account: String,
    tenant_id: &str,
    actor: String,
    meta: RequestMeta,
) -> Result<TenantView, ServiceError> {
    let rt = runtime(state)?;
    let tenant = parse_tenant(tenant_id)?;
    let account = state
        .db
        .run(move |conn| find_account(conn, &account))
        .await?;
    require_sso_available(state, &account)?;
    let proof = rt.app.prove_consent(&tenant).await;
    let (reason, error) = match proof {
        Ok(ConsentProof::Granted(profile)) => {
            return store_approval(state, &account, &profile, &actor, &meta, &tenant).await
        }
        Ok(ConsentProof::Refused { reason }) => (
            reason,
            ServiceError::BadGateway {
                code: "consent_not_proven",
                message: "Microsoft did not confirm that this tenant consented to the app.".into(),
            },
        ),
        Err(e) => {
            log::warn!(
                "request_id={} consent proof for tenant {tenant} failed: {e}",
                meta.request_id
            );
            (e.code().to_string(), unreachable_error())
        }
    };
    let audit = record(
        state,
        &meta,
        &actor,
        &account,
        "entra.tenant.approve",
        Outcome::Failure,
        format!("tenant={tenant} {reason}"),
    );
    state.db.run(audit).await?;
    Err(error)
}

/// Records a proven tenant as approved for `account`, with its audit event, in one transaction.
async fn store_approval(
    state: &AppState,
    account: &Account,
    profile: &TenantProfile,
    actor: &str,
    meta: &RequestMeta,
    tenant: &TenantId,
) -> Result<TenantView, ServiceError> {
    let row = approved_row(state, account, profile);
    let view = TenantView::from(&row);
    let audit = record(
        state,
        meta,
        actor,
        account,
        "entra.tenant.approve",
        Outcome::Success,
        format!("tenant={tenant}"),
    );
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                row.upsert(conn)?;
                audit(conn)
            })
        })
        .await?;
    Ok(view)
}

fn approved_row(state: &AppState, account: &Account, profile: &TenantProfile) -> ApprovedTenant {
    let now = state.clock.now_naive();
    ApprovedTenant {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account.id.clone(),
        tenant_id: profile.tenant_id.to_string(),
        display_name: profile.display_name.clone(),
        verified_domains: serde_json::to_string(&profile.verified_domains)
            .unwrap_or_else(|_| "[]".into()),
        status: STATUS_APPROVED.into(),
        approved_at: now,
        last_checked_at: now,
    }
}

pub async fn list_tenants(
    state: &AppState,
    account: String,
) -> Result<Vec<TenantView>, ServiceError> {
    state
        .db
        .run(move |conn| {
            let account = find_account(conn, &account)?;
            Ok(ApprovedTenant::list_for_account(conn, &account.id)?
                .iter()
                .map(TenantView::from)
                .collect())
        })
        .await
}

/// Re-runs the proof now: a refusal marks the tenant revoked (its users are refused from then
/// on); success marks it approved again with fresh Graph data; an outage changes nothing.
pub async fn check_tenant(
    state: &AppState,
    account: String,
    tenant_id: &str,
    actor: String,
    meta: RequestMeta,
) -> Result<String, ServiceError> {
    let rt = runtime(state)?;
    let tenant = parse_tenant(tenant_id)?;
    let tid = tenant.to_string();
    let st = state.clone();
    let (account, row) = state
        .db
        .run(move |conn| {
            let account = find_account(conn, &account)?;
            require_sso_available(&st, &account)?;
            let row =
                ApprovedTenant::find(conn, &account.id, &tid)?.ok_or(ServiceError::NotFound {
                    code: "tenant_not_found",
                    message: "This tenant is not connected to the account.",
                })?;
            Ok::<_, ServiceError>((account, row))
        })
        .await?;
    let now = state.clock.now_naive();
    let (status, audit_outcome, reason) = match rt.app.prove_consent(&tenant).await {
        Err(e) => {
            log::warn!(
                "request_id={} re-check of tenant {tenant} failed: {e}",
                meta.request_id
            );
            return Err(unreachable_error());
        }
        Ok(ConsentProof::Refused { reason }) => (
            STATUS_REVOKED,
            Outcome::Failure,
            format!("tenant={tenant} revoked {reason}"),
        ),
        Ok(ConsentProof::Granted(profile)) => {
            let fresh = approved_row(state, &account, &profile);
            let id = row.id.clone();
            state
                .db
                .run(move |conn| {
                    ApprovedTenant::update_profile(
                        conn,
                        &id,
                        &fresh.display_name,
                        &fresh.verified_domains,
                    )
                })
                .await?;
            (
                STATUS_APPROVED,
                Outcome::Success,
                format!("tenant={tenant} approved"),
            )
        }
    };
    let audit = record(
        state,
        &meta,
        &actor,
        &account,
        "entra.tenant.check",
        audit_outcome,
        reason,
    );
    state
        .db
        .run(move |conn| {
            ApprovedTenant::set_status(conn, &row.id, status, now)?;
            audit(conn)
        })
        .await?;
    Ok(status.to_string())
}

/// The periodic re-check (SPEC §3.3): re-runs the proof for every approved tenant, so a
/// customer who removed the app is revoked without anyone asking. Returns how many were revoked.
pub async fn recheck_all(state: &AppState) -> Result<usize, ServiceError> {
    let rows = state
        .db
        .run(|conn| {
            let mut rows = Vec::new();
            for row in ApprovedTenant::list_approved(conn)? {
                if let Some(account) = Account::find(conn, &row.account_id)? {
                    rows.push((account.name, row.tenant_id));
                }
            }
            Ok::<_, ServiceError>(rows)
        })
        .await?;
    let mut revoked = 0;
    for (account, tenant_id) in rows {
        match check_tenant(
            state,
            account,
            &tenant_id,
            "system:periodic-check".into(),
            RequestMeta::cli(),
        )
        .await
        {
            Ok(status) if status == STATUS_REVOKED => revoked += 1,
            Ok(_) => {}
            // An outage changes nothing; the next round tries again.
            Err(e) => log::warn!("periodic check of tenant {tenant_id} failed: {e}"),
        }
    }
    Ok(revoked)
}

/// Removes an approved tenant from the account (its users can no longer sign in).
pub async fn remove_tenant(
    state: &AppState,
    account: String,
    tenant_id: &str,
    actor: String,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let tenant = parse_tenant(tenant_id)?;
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = find_account(conn, &account)?;
                let row = ApprovedTenant::find(conn, &account.id, tenant.as_str())?.ok_or(
                    ServiceError::NotFound {
                        code: "tenant_not_found",
                        message: "This tenant is not connected to the account.",
                    },
                )?;
                ApprovedTenant::delete(conn, &row.id)?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account.id),
                        action: "entra.tenant.remove",
                        outcome: Outcome::Success,
                        reason: Some(&format!("tenant={tenant}")),
                    },
                )?;
                Ok(())
            })
        })
        .await
}

/// `POST /api/v1/entra/validate`: a v2.0 ID or access token for our app from a tenant approved
/// for some account (narrowed to `account` when given). No nonce check.
pub async fn validate_api_token(
    state: &AppState,
    token: String,
    account: Option<String>,
) -> Result<bytes::Bytes, ServiceError> {
    let rt = runtime(state)?;
    let invalid =
        |e: SsoError| ServiceError::InvalidToken(format!("The token is not valid ({e})."));
    let now = state.clock.now();
    // A token presented again is answered from memory until it expires (or trust changes).
    let validated = &state.caches.validated_tokens;
    let wanted = account.as_deref().map(|a| a.trim().to_ascii_lowercase());
    // `*`: every approving account; `=name`: that account only (an empty name approves
    // nothing, and must not share the answer of "no account").
    let key = match &wanted {
        None => format!("{}|*", sha256_hex(&token)),
        Some(name) => format!("{}|={name}", sha256_hex(&token)),
    };
    if let Some((answer, _)) = validated.get(&key).filter(|hit| now.timestamp() < hit.1) {
        return Ok(answer);
    }
    let ticket = validated.ticket();
    let parsed = UnverifiedToken::parse(&token).map_err(invalid)?;
    let tenant = parsed.tenant().map_err(invalid)?;
    let approvals = tenant_approvals(state, &tenant).await?;
    let approvals: Vec<_> = match wanted {
        Some(wanted) => approvals
            .iter()
            .filter(|(name, _)| *name == wanted)
            .cloned()
            .collect(),
        None => approvals.to_vec(),
    };
    let domains: Vec<String> = approvals.iter().flat_map(|(_, d)| d.clone()).collect();
    let approved = !approvals.is_empty();
    let lookup = move |_: &TenantId| approved.then(|| domains.clone());
    let audiences = vec![
        rt.app.client_id.clone(),
        format!("api://{}", rt.app.client_id),
    ];
    let rules = TokenRules {
        authority: rt.app.authority(),
        audiences: &audiences,
        nonce: None,
        now,
    };
    let verified = validate_parsed(parsed, &rules, &rt.keys, &lookup)
        .await
        .map_err(|e| match e {
            SsoError::IdpUnreachable(_) => unreachable_error(),
            other => invalid(other),
        })?;
    let expires_at = verified
        .claims
        .get("exp")
        .and_then(serde_json::Value::as_i64);
    let answer = ValidatedToken {
        accounts: approvals.into_iter().map(|(name, _)| name).collect(),
        tenant_id: verified.tenant_id.to_string(),
        oid: verified.oid,
        email: verified.email,
        claims: verified.claims,
    };
    // Serialised once: a token presented again is answered with the same bytes.
    let body = bytes::Bytes::from(
        serde_json::to_vec(&answer).map_err(|e| ServiceError::Internal(e.into()))?,
    );
    if let Some(expires_at) = expires_at {
        validated.insert(ticket, key, (body.clone(), expires_at));
    }
    Ok(body)
}

/// What an Entra sign-in through `owner`'s connection checks before it trusts a token.
#[derive(Debug)]
pub struct EntraSignInTrust {
    /// The tenant's verified domains while `owner` approves it; `None`: not approved (or
    /// revoked).
    pub approved_domains: Option<Vec<String>>,
    /// `owner`'s Entra connection; `None`: removed.
    pub connection: Option<IdpConnection>,
}

/// The approval of `tenant` by `owner` and `owner`'s Entra connection, through the cache
/// (dropped on every instance the moment either changes).
pub async fn sign_in_trust(
    state: &AppState,
    owner: &str,
    tenant: &TenantId,
) -> Result<Arc<EntraSignInTrust>, ServiceError> {
    let cache = &state.caches.entra_sign_in_trust;
    let key = format!("{owner}|{tenant}");
    if let Some(hit) = cache.get(&key) {
        return Ok(hit);
    }
    let ticket = cache.ticket();
    let (owner, tid) = (owner.to_string(), tenant.to_string());
    let trust = state
        .db
        .run(move |conn| {
            let approved_domains = ApprovedTenant::find(conn, &owner, &tid)?
                .filter(ApprovedTenant::is_approved)
                .map(|t| t.domains());
            let connection = IdpConnection::find_kind(conn, &owner, KIND_ENTRA)?;
            Ok::<_, ServiceError>(Arc::new(EntraSignInTrust {
                approved_domains,
                connection,
            }))
        })
        .await?;
    cache.insert(ticket, key, trust.clone());
    Ok(trust)
}

/// The accounts that approved a tenant: (account name, the tenant's verified domains).
pub type TenantApprovals = Arc<Vec<(String, Vec<String>)>>;

/// The accounts that approved `tenant`, through the cache.
async fn tenant_approvals(
    state: &AppState,
    tenant: &TenantId,
) -> Result<TenantApprovals, ServiceError> {
    let cache = &state.caches.tenant_approvals;
    let tid = tenant.to_string();
    if let Some(hit) = cache.get(&tid) {
        return Ok(hit);
    }
    let ticket = cache.ticket();
    let key = tid.clone();
    let approvals = state
        .db
        .run(move |conn| {
            let mut approvals = Vec::new();
            for row in ApprovedTenant::list_for_tenant(conn, &tid)?
                .into_iter()
                .filter(ApprovedTenant::is_approved)
            {
                if let Some(account) = Account::find(conn, &row.account_id)? {
                    approvals.push((account.name, row.domains()));
                }
            }
            Ok::<_, ServiceError>(Arc::new(approvals))
        })
        .await?;
    cache.insert(ticket, key, approvals.clone());
    Ok(approvals)
}
