//! The request id: made by the request-id middleware, carried by every log line, error page and
//! audit event of that request so a user can quote it and an operator can find it.

tokio::task_local! {
    static CURRENT: String;
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    CURRENT.scope(id, fut).await
}

/// The id of the request being handled, or `-` outside a request.
pub fn current() -> String {
    CURRENT
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".to_string())
}

/// A fresh request id.
pub fn generate() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
