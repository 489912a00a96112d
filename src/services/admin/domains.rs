//! Domain claims (SPEC §2 Domain): an account claims an email domain, proves it with a DNS TXT
//! record, or the operator marks it verified. Only a verified domain may name its account
//! (discovery, JIT, trust).
//!
//! # Security
//! Squatting (issue 10): a claim alone proves nothing, so a pending claim never blocks another
//! account. Several accounts may hold pending claims on one domain; the first to verify wins,
//! and its verification deletes the others' pending claims in the same transaction. Once a
//! domain is verified (by any account, sub-accounts included) nobody else may claim or verify
//! it. A pending claim lapses 7 days after it was made and then counts nowhere.
//!
//! Accounts are named by their account name, as in the other account services: the admin
//! pages know the active account's name, the operator API has it in the path.

use chrono::NaiveDateTime;

use crate::crypto::tokens::random_token;
use crate::db::domain::{Domain, PENDING_CLAIM_DAYS};
use crate::db::{DbConnection, DbError};
use crate::domain::domain_verification::VerificationOutcome;
use crate::domain::DomainName;
use crate::services::admin::accounts::find_account;
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

const TAKEN: &str = "This domain is claimed by an account already.";

fn taken() -> ServiceError {
    ServiceError::Conflict {
        code: "domain_taken",
        message: TAKEN,
    }
}

fn rfc3339(at: chrono::NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

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
    /// RFC 3339, UTC: when a pending claim lapses; `null` once verified.
    pub expires_at: Option<String>,
}

impl From<Domain> for DomainView {
    fn from(row: Domain) -> Self {
        Self {
            verification_record: row.verification_record_name(),
            verified_at: row.verified_at.map(rfc3339),
            expires_at: row.expires_at().map(rfc3339),
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

/// The account's domains, by name; lapsed pending claims are left out.
pub async fn list(state: &AppState, account: String) -> Result<Vec<DomainView>, ServiceError> {
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            let account = find_account(conn, &account)?;
            Ok(Domain::list_for_account(conn, &account.id)?
                .into_iter()
                .filter(|row| !row.is_expired(now))
                .map(DomainView::from)
                .collect())
        })
        .await
}

/// Claims `domain` for the account, with a fresh verification token. `operator_verified`
/// (operator API only) records it verified without DNS, which deletes the other accounts'
/// pending claims. Refused with `domain_taken` when the domain is verified by any account, or
/// when this account holds a live claim already (unless the operator now verifies that pending
/// claim). Other accounts' pending claims do not count.
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
                Domain::purge_expired(conn, now - chrono::Duration::days(PENDING_CLAIM_DAYS))?;
                if Domain::find_verified(conn, domain.as_str())?.is_some() {
                    return Err(taken());
                }
                match Domain::find_for_account(conn, &account.id, domain.as_str())? {
                    Some(_) if !verified => Err(taken()),
                    // The operator vouches for this account's pending claim.
                    Some(own) => verify_own_claim(conn, &meta, now, actor, &account.id, own),
                    None => add_claim(conn, &meta, now, actor, &account.id, &domain, verified),
                }
            })
        })
        .await
}

/// Marks the account's pending claim verified (the operator vouches for it) and deletes the
/// other accounts' pending claims; in the caller's transaction.
fn verify_own_claim(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: NaiveDateTime,
    actor: String,
    account_id: &str,
    mut own: Domain,
) -> Result<DomainView, ServiceError> {
    Domain::mark_verified(conn, &own.id, now).map_err(conflict_as_taken)?;
    own.verified = true;
    own.verified_at = Some(now);
    let removed = Domain::delete_pending_of_others(conn, &own.domain, account_id)?;
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor,
            account_id: Some(account_id),
            action: "domain.verify",
            outcome: Outcome::Success,
            reason: Some(&verified_reason(&own.domain, removed)),
        },
    )?;
    Ok(DomainView::from(own))
}

/// Stores a new claim with a fresh verification token; a claim the operator verifies deletes
/// the other accounts' pending claims. In the caller's transaction.
fn add_claim(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: NaiveDateTime,
    actor: String,
    account_id: &str,
    domain: &DomainName,
    verified: bool,
) -> Result<DomainView, ServiceError> {
    let row = Domain {
        id: uuid::Uuid::new_v4().to_string(),
        account_id: account_id.to_string(),
        domain: domain.as_str().to_string(),
        verified,
        verification_token: format!("sso-broker-verification={}", random_token(18)),
        verified_at: verified.then_some(now),
        created_at: now,
    };
    // The unique indexes settle a concurrent claim the checks above did not see.
    row.insert(conn).map_err(conflict_as_taken)?;
    let removed = if verified {
        Domain::delete_pending_of_others(conn, &row.domain, account_id)?
    } else {
        0
    };
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor,
            account_id: Some(account_id),
            action: "domain.add",
            outcome: Outcome::Success,
            reason: Some(&added_reason(&row.domain, verified, removed)),
        },
    )?;
    Ok(DomainView::from(row))
}

/// A unique index refused the write: another claim got there first.
fn conflict_as_taken(e: DbError) -> ServiceError {
    if e.is_unique_violation() {
        taken()
    } else {
        e.into()
    }
}

/// The audit reason of a successful verification.
fn verified_reason(domain: &str, pending_removed: usize) -> String {
    if pending_removed > 0 {
        format!("domain={domain} pending_claims_removed={pending_removed}")
    } else {
        format!("domain={domain}")
    }
}

/// The audit reason of a new claim.
fn added_reason(domain: &str, verified: bool, pending_removed: usize) -> String {
    if pending_removed > 0 {
        format!("domain={domain} verified={verified} pending_claims_removed={pending_removed}")
    } else {
        format!("domain={domain} verified={verified}")
    }
}

/// Looks up `_sso-broker-verification.<domain>` and marks the claim verified when a TXT record
/// there equals its token; the first account to verify wins, and the other accounts' pending
/// claims are deleted with it. A domain verified by another account is refused with
/// `domain_taken`; a lapsed pending claim is not claimed any more. Every attempt that looks up
/// DNS is audited (`domain.verify`, with the reason on failure). A DNS outage is an outcome,
/// not an error: nothing changes.
pub async fn verify(
    state: &AppState,
    account: String,
    domain: &str,
    actor: String,
    meta: RequestMeta,
) -> Result<Verification, ServiceError> {
    let domain = DomainName::parse(domain).map_err(|_| not_claimed())?;
    let (account_id, row) = {
        let now = state.clock.now_naive();
        state
            .db
            .run(move |conn| live_claim(conn, &account, domain.as_str(), now))
            .await?
    };
    if row.verified {
        return Ok(Verification {
            outcome: VerificationOutcome::AlreadyVerified,
            domain: row.into(),
        });
    }
    let outcome = look_up_token(state, &meta, &row).await;
    let now = state.clock.now_naive();
    state
        .db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                record_verification(conn, &meta, now, actor, &account_id, row, outcome)
            })
        })
        .await
}

/// The account's id and its live claim of `domain`. `domain_taken` when someone else's
/// verification deleted the claim, else `domain_not_found`.
fn live_claim(
    conn: &mut DbConnection,
    account: &str,
    domain: &str,
    now: NaiveDateTime,
) -> Result<(String, Domain), ServiceError> {
    let account = find_account(conn, account)?;
    let row =
        Domain::find_for_account(conn, &account.id, domain)?.filter(|row| !row.is_expired(now));
    let Some(row) = row else {
        // Someone else's verification deleted this account's pending claim.
        return Err(if Domain::find_verified(conn, domain)?.is_some() {
            taken()
        } else {
            not_claimed()
        });
    };
    Ok((account.id, row))
}

/// What the claim's TXT record says now. A DNS outage is an outcome (logged), not an error.
async fn look_up_token(state: &AppState, meta: &RequestMeta, row: &Domain) -> VerificationOutcome {
    // Fully qualified: no search domain of the host is appended.
    let name = format!("{}.", row.verification_record_name());
    match state.dns.txt(&name).await {
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
    }
}

/// Applies and audits what DNS said, in the caller's transaction: a found token verifies the
/// claim (unless another account won meanwhile, or the claim is gone); any other outcome
/// changes nothing.
fn record_verification(
    conn: &mut DbConnection,
    meta: &RequestMeta,
    now: NaiveDateTime,
    actor: String,
    account_id: &str,
    mut row: Domain,
    outcome: VerificationOutcome,
) -> Result<Verification, ServiceError> {
    let mut removed = 0;
    if outcome == VerificationOutcome::Verified {
        removed = mark_won(conn, &mut row, account_id, now)?;
    }
    let reason = match outcome {
        VerificationOutcome::Verified => verified_reason(&row.domain, removed),
        other => format!("{} domain={}", other.code(), row.domain),
    };
    audit::record(
        conn,
        meta,
        now,
        Audit {
            actor,
            account_id: Some(account_id),
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
}

/// Marks the claim verified after DNS proved it, and deletes the other accounts' pending
/// claims; returns how many were deleted.
fn mark_won(
    conn: &mut DbConnection,
    row: &mut Domain,
    account_id: &str,
    now: NaiveDateTime,
) -> Result<usize, ServiceError> {
    // Another account verified it while DNS was asked: it won.
    if Domain::find_verified(conn, &row.domain)?.is_some_and(|won| won.account_id != account_id) {
        return Err(taken());
    }
    // Removed or lapsed while DNS was asked: nothing to verify any more.
    if row.is_expired(now)
        || !Domain::mark_verified(conn, &row.id, now).map_err(conflict_as_taken)?
    {
        return Err(not_claimed());
    }
    row.verified = true;
    row.verified_at = Some(now);
    Ok(Domain::delete_pending_of_others(
        conn,
        &row.domain,
        account_id,
    )?)
}

/// Removes the account's claim of `domain` (verified or not, lapsed included); a verified
/// domain is free again.
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
