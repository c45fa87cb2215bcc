//! The platform's PostgreSQL: its schema, kept as migrations embedded in
//! the binary and run at start, and a pool of connections.
//!
//! tokio-postgres (asked for by the users) with deadpool-postgres for the
//! pool and refinery for the migrations: both maintained, tested together
//! on PostgreSQL 15, and neither something to write ourselves.
//!
//! The schema (`migrations/`) gives every table holding a unit's data a
//! `unit` column; the API's queries always filter on it.

pub mod agents;
pub mod calls;
pub mod governance;
pub mod notifications;
pub mod prompts;
pub mod units;
pub mod users;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Why the store is unavailable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("bad database URL {0:?}: {1}")]
    Url(String, String),
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("no connection to PostgreSQL: {0}")]
    Pool(String),
    #[error("migrating the schema: {0}")]
    Migration(String),
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError::Pool(e.to_string())
    }
}

/// The platform's database.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    url: String,
}

impl Store {
    /// A pool of at most `max_connections` to `url`
    /// (`postgres://user@host:port/database`). Nothing is connected yet.
    /// Waits are bounded: deadpool sets no timeout by default, and a
    /// request must fail rather than hang when PostgreSQL is away.
    pub fn new(url: &str, max_connections: usize) -> Result<Store, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Url(url.to_string(), e.to_string()))?;
        config.connect_timeout(Duration::from_secs(5));
        config.options("-c statement_timeout=10000");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(Duration::from_secs(5)),
                create: Some(Duration::from_secs(5)),
                recycle: Some(Duration::from_secs(5)),
            })
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        Ok(Store {
            pool,
            url: url.to_string(),
        })
    }

    /// Brings the schema up to date; returns the migrations applied now.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut client = self.pool.get().await?;
        let report = embedded::migrations::runner()
            .run_async(&mut **client)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(report
            .applied_migrations()
            .iter()
            .map(|m| m.to_string())
            .collect())
    }

    /// Notifications of `channel` (e.g. `cc_config`, a new live version).
    pub async fn listen(&self, channel: &str) -> Result<notifications::Listener, StoreError> {
        notifications::Listener::start(&self.url, channel).await
    }

    /// A connection of the pool (deref to a client; `transaction()` for
    /// several statements that stand or fall together).
    pub async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}
