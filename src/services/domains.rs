//! Domain claims (SPEC §2 Domain): an account claims an email domain (unique in the whole
//! installation, sub-accounts included), proves it with a DNS TXT record, or the operator marks
//! it verified. Only a verified domain may name its account (discovery, JIT).
//!
//! Accounts are named by their account name, as in the other account services: the admin
//! pages know the active account's name, the operator API has it in the path.

use super::accounts::find_account;
use super::audit::{self, Audit, Outcome, RequestMeta};
use super::ServiceError;
use crate::crypto::tokens::random_token;
use crate::db::domain::Domain;
use crate::db::DbError;
use crate::domain::domain_verification::VerificationOutcome;
use crate::domain::DomainName;
use crate::AppState;

const TAKEN: &str = "This domain is claimed by an account already.";

/// A claimed domain as admins and the operator see it, with the TXT record that proves it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DomainView {
    pub domain: String,
    pub verified: bool,
    /// The DNS TXT record name to publish, and its value.
    pub verification_record: String,
    pub verification_value: String,
    /// RFC 3339, UTC; `null` until verified.
    pub verified_at: Option<String>,
}

impl From<Domain> for DomainView {
    fn from(row: Domain) -> Self {
        Self {
            verification_record: row.verification_record_name(),
            verified_at: row.verified_at.map(|at| {
                at.and_utc()
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }),
            verification_value: row.verification_token,
            domain: row.domain,
            verified: row.verified,
        }
    }
}

/// The result of one "Verify": what was found, and the domain after it.
#[derive(Debug, Clone)]
pub struct Verification {
    pub outcome: VerificationOutcome,
    pub domain: DomainView,
}

impl Verification {
    /// The sentence the admin reads.
    pub fn message(&self) -> String {
        self.outcome.message(&self.domain.verification_record)
    }
}

fn not_claimed() -> ServiceError {
    ServiceError::NotFound {
        code: "domain_not_found",
        message: "This domain is not claimed by the account.",
    }
}

/// The account's domains, by name.
pub async fn list(state: &AppState, account: String) -> Result<Vec<DomainView>, ServiceError> {
    state
        .db
        .run(move |conn| {
            let account = find_account(conn, &account)?;
            Ok(Domain::list_for_account(conn, &account.id)?
                .into_iter()
                .map(DomainView::from)
                .collect())
        })
        .await
}

/// Claims `domain` for the account, with a fresh verification token. `operator_verified`
/// (operator API only) records it verified without DNS. A domain claimed by any account,
/// this one included, is refused with `domain_taken`.
pub async fn claim(
    state: &AppState,
    account: String,
    domain: &str,
    operator_verified: bool,
    actor: String,
    meta: RequestMeta,
) -> Result<DomainView, ServiceError> {
    let domain = DomainName::parse(domain)?;
    let now = state.clock.now_naive();
    let verified = operator_verified;
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = find_account(conn, &account)?;
                if Domain::find_by_domain(conn, domain.as_str())?.is_some() {
                    return Err(ServiceError::Conflict {
                        code: "domain_taken",
                        message: TAKEN,
                    });
                }
                let row = Domain {
                    id: uuid::Uuid::new_v4().to_string(),
                    account_id: account.id.clone(),
                    domain: domain.as_str().to_string(),
                    verified,
                    verification_token: format!("sso-broker-verification={}", random_token(18)),
                    verified_at: verified.then_some(now),
                    created_at: now,
                };
                // The unique index settles a concurrent claim the check above did not see.
                row.insert(conn).map_err(|e: DbError| {
                    if e.is_unique_violation() {
                        ServiceError::Conflict {
                            code: "domain_taken",
                            message: TAKEN,
                        }
                    } else {
                        e.into()
                    }
                })?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account.id),
                        action: "domain.add",
                        outcome: Outcome::Success,
                        reason: Some(&format!("domain={} verified={verified}", row.domain)),
                    },
                )?;
                Ok(DomainView::from(row))
            })
        })
        .await
}

/// Looks up `_sso-broker-verification.<domain>` and marks the claim verified when a TXT record
/// there equals its token. Every attempt that looks up DNS is audited (`domain.verify`, with
/// the reason on failure). A DNS outage is an outcome, not an error: nothing changes.
pub async fn verify(
    state: &AppState,
    account: String,
    domain: &str,
    actor: String,
    meta: RequestMeta,
) -> Result<Verification, ServiceError> {
    let domain = DomainName::parse(domain).map_err(|_| not_claimed())?;
    let (account_id, row) = {
        let domain = domain.as_str().to_string();
        state
            .db
            .run(move |conn| {
                let account = find_account(conn, &account)?;
                let row = Domain::find_for_account(conn, &account.id, &domain)?
                    .ok_or_else(not_claimed)?;
                Ok::<_, ServiceError>((account.id, row))
            })
            .await?
    };
    if row.verified {
        return Ok(Verification {
            outcome: VerificationOutcome::AlreadyVerified,
            domain: row.into(),
        });
    }
    // Fully qualified: no search domain of the host is appended.
    let name = format!("{}.", row.verification_record_name());
    let outcome = match state.dns.txt(&name).await {
        Ok(records) => VerificationOutcome::from_records(&records, &row.verification_token),
        Err(e) => {
            log::warn!(
                "request_id={} DNS lookup of {name} failed: {e}{}",
                meta.request_id,
                std::error::Error::source(&e)
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default()
            );
            VerificationOutcome::DnsUnreachable
        }
    };
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let mut row = row;
                if outcome == VerificationOutcome::Verified {
                    // Removed while DNS was asked: nothing to verify any more.
                    if !Domain::mark_verified(conn, &row.id, now)? {
                        return Err(not_claimed());
                    }
                    row.verified = true;
                    row.verified_at = Some(now);
                }
                let reason = match outcome {
                    VerificationOutcome::Verified => format!("domain={}", row.domain),
                    other => format!("{} domain={}", other.code(), row.domain),
                };
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account_id),
                        action: "domain.verify",
                        outcome: if outcome.is_verified() {
                            Outcome::Success
                        } else {
                            Outcome::Failure
                        },
                        reason: Some(&reason),
                    },
                )?;
                Ok(Verification {
                    outcome,
                    domain: row.into(),
                })
            })
        })
        .await
}

/// Removes the account's claim of `domain` (verified or not); the domain is free again.
pub async fn remove(
    state: &AppState,
    account: String,
    domain: &str,
    actor: String,
    meta: RequestMeta,
) -> Result<(), ServiceError> {
    let domain = DomainName::parse(domain).map_err(|_| not_claimed())?;
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let account = find_account(conn, &account)?;
                let row = Domain::find_for_account(conn, &account.id, domain.as_str())?
                    .ok_or_else(not_claimed)?;
                Domain::delete(conn, &row.id)?;
                audit::record(
                    conn,
                    &meta,
                    now,
                    Audit {
                        actor,
                        account_id: Some(&account.id),
                        action: "domain.remove",
                        outcome: Outcome::Success,
                        reason: Some(&format!("domain={} verified={}", row.domain, row.verified)),
                    },
                )?;
                Ok(())
            })
        })
        .await
}
