#![doc = include_str!("../README.md")]

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use yufu_store::{Backend, StoreError, StoreResult};

/// Connections in the pool. SQLite allows one writer at a time; the others
/// serve readers and wait on the busy timeout for their turn to write.
const MAX_CONNECTIONS: u32 = 8;
/// How long a writer waits for the lock before the store reports it unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The store on one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// The database file, for backups before migrations.
    path: std::path::PathBuf,
    /// The writer's lock file, held while this store lives (see
    /// `Journal::claim_writer`).
    /// The key for personal data (see `Store::set_vault`).
    vault: yufu_store::VaultSlot,
    writer_lock: std::sync::Arc<std::sync::Mutex<Option<std::fs::File>>>,
}

impl SqliteStore {
    const BACKEND: Backend = Backend::Sqlite;

    /// Opens (creating if missing) the database file at `path`.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        Self::connect_with(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a `sqlite://PATH` (or `sqlite:PATH`) URL.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?;
        Self::connect_with(options).await
    }

    async fn connect_with(options: SqliteConnectOptions) -> StoreResult<Self> {
        let path = options.get_filename().to_path_buf();
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // The journal is acknowledged on COMMIT, so a commit must survive
            // power loss: WAL + FULL syncs the WAL on every commit (NORMAL
            // may lose the last ones). Group commit amortises the fsync.
            .synchronous(SqliteSynchronous::Full)
            // 16 MiB of page cache per connection (negative = KiB), up to
            // eight connections: appends touch only the right edges of the
            // hot tables, and a bigger cache per connection pushed a
            // million-meter restart over 1 GiB (BENCHMARKS.md).
            .pragma("cache_size", "-16384")
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(Self {
            pool,
            path,
            writer_lock: Default::default(),
            vault: Default::default(),
        })
    }

    async fn backend_claim_writer(&self) -> StoreResult<()> {
        let mut held = self
            .writer_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_some() {
            return Ok(());
        }
        let lock_path = format!("{}.writer-lock", self.path.display());
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {lock_path}: {e}")))?;
        match file.try_lock() {
            Ok(()) => {
                *held = Some(file);
                Ok(())
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Conflict(format!(
                "another yufu process is writing to {} (it holds {lock_path}); stop it first",
                self.path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
                "cannot lock {lock_path}: {e}"
            ))),
        }
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
        // Upgrades must never lose data: copy a database that holds data
        // before changing its schema, so a failed or regretted upgrade is
        // undone by restoring the copy.
        let backup = if before > 0 && pending > 0 {
            Some(self.backup_before_migration().await?)
        } else {
            None
        };
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        // Planner statistics. Without them SQLite prefers an index that
        // gives a query's ORDER BY over the one that finds its few rows: an
        // account's meters or a phone search walked the organisation's
        // million meters or customers in id order (0.6–0.9 s) instead of
        // the account or blind index (0.2 ms). `analysis_limit` samples
        // each index, so this takes about half a second at a million
        // meters and nothing on a small database.
        // (One connection for both: the limit is a per-connection setting;
        // without it ANALYZE reads every row, 11 s at a million meters.)
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        for pragma in ["PRAGMA analysis_limit = 1000", "ANALYZE"] {
            sqlx::query(pragma)
                .execute(&mut *conn)
                .await
                .map_err(|e| StoreError::Backend(format!("{pragma}: {e}")))?;
        }
        drop(conn);
        let after = applied(&self.pool).await?;
        tracing::info!(
            applied_now = after - before,
            total = after,
            "sqlite migrations"
        );
        Ok(yufu_store::MigrationReport {
            applied: after - before,
            backup,
        })
    }

    /// `VACUUM INTO` a file beside the database: a consistent copy taken
    /// while the pool stays open.
    async fn backup_before_migration(&self) -> StoreResult<String> {
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let target = format!("{}.before-migration-{stamp}.bak", self.path.display());
        sqlx::query("VACUUM INTO $1")
            .bind(&target)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                StoreError::Migration(format!("backup to {target} before migrating failed: {e}"))
            })?;
        tracing::info!(backup = %target, "database copied before migrating");
        Ok(target)
    }
}

async fn applied(pool: &sqlx::SqlitePool) -> StoreResult<usize> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await
    .map_err(|e| StoreError::Backend(e.to_string()))?;
    if exists == 0 {
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

yufu_store::impl_sql_store!(SqliteStore, sqlx::sqlite::SqliteRow);
yufu_store::impl_sql_access!(SqliteStore);
yufu_store::impl_sql_console!(SqliteStore);
yufu_store::impl_sql_procurement!(SqliteStore);
yufu_store::impl_sql_field!(SqliteStore);
yufu_store::impl_sql_journal!(SqliteStore, sqlx::Sqlite);
