//! Errors of the database layer. The cause goes to the log only.

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DB0001 database unavailable")]
    Pool(#[source] diesel::r2d2::PoolError),
    #[error("DB0002 query failed")]
    Query(#[source] diesel::result::Error),
    #[error("DB0003 migration failed: {0}")]
    Migration(String),
    #[error("DB0004 blocking task failed")]
    Blocking,
    #[error("DB0005 cannot open the database")]
    Connect(#[source] diesel::ConnectionError),
    #[error("DB0006 cannot start the database's background thread")]
    Thread(#[source] std::io::Error),
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Query(e)
    }
}

impl DbError {
    /// True when the database could not be reached (no connection within the pool's timeout,
    /// or the connection broke): the work was not done, and trying again later may succeed.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            Self::Pool(_) | Self::Connect(_) => true,
            Self::Query(Error::DatabaseError(kind, _)) => matches!(
                kind,
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
            ),
            Self::Query(Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }

    /// True when the error is a unique-constraint violation (a concurrent duplicate insert).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            Self::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}
