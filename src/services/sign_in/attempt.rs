//! The record of one sign-in attempt, the same for every method: the operator's log line, the
//! audit event (`login.password`, `login.second_factor`, `login.sso`) with the failure's stable
//! code, the throttle event, and the `sso_broker_sign_in_attempts_total` metric.
//!
//! Throttling differs by method on purpose. A password or code step is counted against its
//! buckets *before* it is checked and withdrawn when it succeeds (`sign_in::budget`), so
//! concurrent guesses cannot outrun the limit. An SSO step costs the client address a failure
//! in its SSO budget when it is refused (each refused response cost a signature check), apart
//! from password guesses, so an office's SSO typos never lock its password users out.

use chrono::NaiveDateTime;

use crate::auth::throttle;
use crate::db::DbConnection;
use crate::services::sign_in::failure::SignInFailure;
use crate::services::support::audit::{self, Audit, Outcome, RequestMeta};
use crate::services::ServiceError;
use crate::AppState;

/// How a sign-in was attempted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Password,
    SecondFactor,
    Sso,
}

impl Method {
    /// The audit action.
    pub fn action(self) -> &'static str {
        match self {
            Self::Password => "login.password",
            Self::SecondFactor => "login.second_factor",
            Self::Sso => "login.sso",
        }
    }

    /// The metric's `method` label.
    pub fn metric(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::SecondFactor => "password+totp",
            Self::Sso => "sso",
        }
    }

    /// Counts a step's result in the metric: `success`, `throttled` or `failure` (a refusal or
    /// an error on our side alike).
    pub fn count<T>(self, state: &AppState, result: &Result<T, ServiceError>) {
        let outcome = match result {
            Ok(_) => "success",
            Err(ServiceError::Throttled | ServiceError::SignIn(SignInFailure::Throttled)) => {
                "throttled"
            }
            Err(_) => "failure",
        };
        state.metrics.sign_in(self.metric(), outcome);
    }
}

/// Who tried, where: the audit event's actor and account.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub method: Method,
    pub actor: String,
    pub account_id: Option<String>,
}

impl Attempt {
    pub fn new(method: Method, actor: String, account_id: Option<&str>) -> Self {
        Self {
            method,
            actor,
            account_id: account_id.map(str::to_string),
        }
    }

    /// Writes the audit event of a step that went on (`reason`: how, e.g. `second_factor_required`
    /// or the IdP and MFA evidence) in the caller's transaction.
    pub fn audit_success(
        &self,
        conn: &mut DbConnection,
        meta: &RequestMeta,
        now: NaiveDateTime,
        reason: Option<&str>,
    ) -> Result<(), crate::db::DbError> {
        self.audit(conn, meta, now, Outcome::Success, reason)
    }

    /// Writes the audit event of a refused step in the caller's transaction.
    pub fn audit_failure(
        &self,
        conn: &mut DbConnection,
        meta: &RequestMeta,
        now: NaiveDateTime,
        failure: &SignInFailure,
    ) -> Result<(), crate::db::DbError> {
        self.audit(conn, meta, now, Outcome::Failure, Some(&failure.code()))
    }

    fn audit(
        &self,
        conn: &mut DbConnection,
        meta: &RequestMeta,
        now: NaiveDateTime,
        outcome: Outcome,
        reason: Option<&str>,
    ) -> Result<(), crate::db::DbError> {
        audit::record(
            conn,
            meta,
            now,
            Audit {
                actor: self.actor.clone(),
                account_id: self.account_id.as_deref(),
                action: self.method.action(),
                outcome,
                reason,
            },
        )
    }

    /// Records a refused SSO step from async code: the log line, the audit event, a failure
    /// in the client address's SSO budget (when it counts against the client), and the metric.
    pub async fn record_sso_failure(
        &self,
        state: &AppState,
        meta: &RequestMeta,
        failure: &SignInFailure,
    ) -> Result<(), ServiceError> {
        log::info!(
            "request_id={} sign-in refused ({}): {}",
            meta.request_id,
            self.method.metric(),
            failure.code().escape_debug()
        );
        let now = state.clock.now_naive();
        let bucket = meta
            .ip
            .as_deref()
            .filter(|_| failure.counts_against_client())
            .map(throttle::sso_ip_bucket);
        let (this, meta, failure_for_db) = (self.clone(), meta.clone(), failure.clone());
        state
            .db
            .run(move |conn| {
                this.audit_failure(conn, &meta, now, &failure_for_db)?;
                if let Some(bucket) = bucket {
                    throttle::record_failure(conn, &bucket, now)?;
                }
                Ok::<_, ServiceError>(())
            })
            .await?;
        let refused: Result<(), _> = Err(ServiceError::SignIn(failure.clone()));
        self.method.count(state, &refused);
        Ok(())
    }
}
