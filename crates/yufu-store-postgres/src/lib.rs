#![doc = include_str!("../README.md")]

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use yufu_store::{Backend, StoreError, StoreResult};

/// Connections in the pool: enough for a 2–8 core server; PostgreSQL's own
/// default limit is 100 for all clients together.
const MAX_CONNECTIONS: u32 = 16;
/// How long a request waits for a connection before the store reports it unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The store on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: sqlx::PgPool,
    /// The connection that holds the writer's advisory lock while this
    /// store lives (see `Journal::claim_writer`).
    /// The key for personal data (see `Store::set_vault`).
    vault: yufu_store::VaultSlot,
    writer_lock: std::sync::Arc<tokio::sync::Mutex<Option<sqlx::PgConnection>>>,
}

impl PostgresStore {
    const BACKEND: Backend = Backend::Postgres;

    /// Connects to a `postgres://` URL.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
        Self::connect_with(options).await
    }

    /// Connects with prepared options, e.g. a `search_path` for one schema
    /// per test.
    pub async fn connect_with(options: PgConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            pool,
            writer_lock: Default::default(),
            vault: Default::default(),
        })
    }

    /// Creates a new, empty schema `name` in the database of `url` and
    /// connects to it (for benchmarks that need a fresh database).
    /// `name` must be a plain identifier.
    pub async fn connect_fresh_schema(url: &str, name: &str) -> StoreResult<Self> {
        Self::schema_sql(url, "CREATE SCHEMA", name).await?;
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad PostgreSQL URL: {e}")))?
            .options([("search_path", name)]);
        Self::connect_with(options).await
    }

    /// Drops a schema made by [`Self::connect_fresh_schema`], with its tables.
    pub async fn drop_schema(url: &str, name: &str) -> StoreResult<()> {
        Self::schema_sql(url, "DROP SCHEMA IF EXISTS", name).await
    }

    async fn schema_sql(url: &str, verb: &str, name: &str) -> StoreResult<()> {
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError::Backend(format!(
                "'{name}' is not a plain schema name"
            )));
        }
        let cascade = if verb.starts_with("DROP") {
            " CASCADE"
        } else {
            ""
        };
        let pool = sqlx::PgPool::connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let result = sqlx::query(sqlx::AssertSqlSafe(format!("{verb} {name}{cascade}")))
            .execute(&pool)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Backend(e.to_string()));
        pool.close().await;
        result
    }

    async fn backend_claim_writer(&self) -> StoreResult<()> {
        let mut held = self.writer_lock.lock().await;
        if held.is_some() {
            return Ok(());
        }
        // A connection of its own, outside the pool: the lock lives exactly
        // as long as it (and the server frees it when this process dies).
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
            .detach();
        let got: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_lock(hashtext('yufu-writer:' || current_schema())::bigint)",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        if !got {
            return Err(StoreError::Conflict(
                "another yufu process is writing to this database (schema); stop it first".into(),
            ));
        }
        *held = Some(conn);
        Ok(())
    }

    async fn backend_ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn backend_migrate(&self) -> StoreResult<yufu_store::MigrationReport> {
        let before = applied(&self.pool).await?;
        let pending = MIGRATOR.iter().count().saturating_sub(before);
        if before > 0 && pending > 0 {
            // Yufu cannot run pg_dump for the operator; say what to do.
            tracing::warn!(
                pending,
                "applying migrations to an existing PostgreSQL database; back it up with pg_dump first if you have not"
            );
        }
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        let after = applied(&self.pool).await?;
        tracing::info!(
            applied_now = after - before,
            total = after,
            "postgres migrations"
        );
        Ok(yufu_store::MigrationReport {
            applied: after - before,
            backup: None,
        })
    }
}

async fn applied(pool: &sqlx::PgPool) -> StoreResult<usize> {
    // to_regclass honours search_path, so a per-test schema sees its own table.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    if !exists {
        return Ok(0);
    }
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The names of the embedded migrations, in order (for the twin-names test).
pub fn migration_names() -> Vec<String> {
    MIGRATOR
        .iter()
        .map(|m| format!("{}_{}", m.version, m.description))
        .collect()
}

yufu_store::impl_sql_store!(PostgresStore, sqlx::postgres::PgRow);
yufu_store::impl_sql_access!(PostgresStore);
yufu_store::impl_sql_console!(PostgresStore);
yufu_store::impl_sql_procurement!(PostgresStore);
yufu_store::impl_sql_field!(PostgresStore);
yufu_store::impl_sql_journal!(PostgresStore, sqlx::Postgres, unnest);
