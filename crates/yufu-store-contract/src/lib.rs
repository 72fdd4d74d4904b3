#![doc = include_str!("../README.md")]
// Test support: a panic with a clear message is the right failure mode here.
#![allow(clippy::unwrap_used)]

pub mod access_stories;

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use yufu_store::Store;
use yufu_store_postgres::PostgresStore;
use yufu_store_sqlite::SqliteStore;

/// The variable naming the PostgreSQL database tests may use.
pub const TEST_DATABASE_URL: &str = "YUFU_TEST_DATABASE_URL";

/// A vault with one fresh random key, for tests (each call a new key).
pub fn test_vault() -> Arc<yufu_store::Vault> {
    let line = yufu_store::Vault::generate_key_line("test").unwrap();
    Arc::new(yufu_store::Vault::from_key_text(&line).unwrap())
}

/// A migrated, empty store for one test, removed again by [`TestDb::finish`].
#[derive(Debug)]
pub struct TestDb {
    store: Arc<dyn Store>,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum RawPool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

impl TestDb {
    /// A fresh SQLite file in its own temporary directory.
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("yufu.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store.set_vault(test_vault());
        Self {
            store: Arc::new(store),
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh schema in the PostgreSQL database of `YUFU_TEST_DATABASE_URL`,
    /// or `None` (with a loud note) when it is not set outside CI.
    pub async fn postgres() -> Option<Self> {
        let url = postgres_url()?;
        let schema = format!("yufu_t_{}", uuid::Uuid::now_v7().simple());
        let admin = sqlx::PgPool::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{TEST_DATABASE_URL} is set but unreachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let options = PgConnectOptions::from_str(&url)
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let store = PostgresStore::connect_with(options).await.unwrap();
        store.migrate().await.unwrap();
        store.set_vault(test_vault());
        Some(Self {
            store: Arc::new(store),
            cleanup: Cleanup::Postgres {
                admin_url: url,
                schema,
            },
        })
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub fn shared(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// A pool of its own on the test database, beside the store's.
    async fn raw_pool(&self) -> RawPool {
        match &self.cleanup {
            Cleanup::Sqlite(dir) => {
                let options =
                    sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("yufu.db"));
                RawPool::Sqlite(sqlx::SqlitePool::connect_with(options).await.unwrap())
            }
            Cleanup::Postgres { admin_url, schema } => {
                let options = PgConnectOptions::from_str(admin_url)
                    .unwrap()
                    .options([("search_path", schema.as_str())]);
                RawPool::Postgres(sqlx::PgPool::connect_with(options).await.unwrap())
            }
        }
    }

    /// `SELECT COUNT(*) FROM table` on a connection of its own, for checking
    /// what a store method left behind where the trait has no query for it.
    pub async fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self.raw_pool().await {
            RawPool::Sqlite(pool) => {
                let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                n
            }
            RawPool::Postgres(pool) => {
                let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                n
            }
        }
    }

    /// Runs SQL (one or more statements) on a connection of its own, to set
    /// up what a test needs that no store method does, e.g. a trigger that
    /// injects a failure.
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.raw_pool().await {
            RawPool::Sqlite(pool) => {
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            RawPool::Postgres(pool) => {
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    /// The directory of the SQLite file (and its WAL), for tests that look
    /// at the bytes at rest; `None` for PostgreSQL.
    pub fn sqlite_dir(&self) -> Option<&std::path::Path> {
        match &self.cleanup {
            Cleanup::Sqlite(dir) => Some(dir.path()),
            Cleanup::Postgres { .. } => None,
        }
    }

    /// Whether this is the PostgreSQL flavour.
    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::Postgres { .. })
    }

    /// Closes the store and drops the schema (PostgreSQL) or directory (SQLite).
    /// A failed test skips this and leaves its schema behind for inspection.
    pub async fn finish(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::Sqlite(dir) => drop(dir),
            Cleanup::Postgres { admin_url, schema } => {
                let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
            }
        }
    }
}

/// `YUFU_TEST_DATABASE_URL`, or `None` after a loud note. In CI (`CI` set) a
/// missing URL is a failure: the PostgreSQL half must run there.
pub fn postgres_url() -> Option<String> {
    match std::env::var(TEST_DATABASE_URL) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {TEST_DATABASE_URL} is not: the PostgreSQL contract tests must run in CI"
            );
            // Written straight to the process's stderr, not through eprintln!,
            // which the test harness captures and hides for passing tests.
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED (PostgreSQL): {TEST_DATABASE_URL} is not set; only SQLite was tested. \
                     Set it (e.g. postgres://postgres@127.0.0.1:5432/test) to run the PostgreSQL half. ***\n"
                );
            });
            None
        }
    }
}

/// A fresh, empty PostgreSQL database (not only a schema) for tests that run
/// the real binary, which takes a plain URL. Dropped by [`TestPgDatabase::drop_database`].
#[derive(Debug)]
pub struct TestPgDatabase {
    /// The URL of the new database, for `YUFU_DATABASE_URL`.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestPgDatabase {
    /// `None` (with the loud note) when `YUFU_TEST_DATABASE_URL` is unset outside CI.
    pub async fn create() -> Option<Self> {
        let admin_url = postgres_url()?;
        let name = format!("yufu_e2e_{}", uuid::Uuid::now_v7().simple());
        let admin = sqlx::PgPool::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{TEST_DATABASE_URL} is set but unreachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = replace_database(&admin_url, &name);
        Some(Self {
            url,
            admin_url,
            name,
        })
    }

    pub async fn drop_database(self) {
        let admin = sqlx::PgPool::connect(&self.admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&admin)
        .await
        .unwrap();
        admin.close().await;
    }
}

/// `postgres://u@h:5432/test?x=y` with the database path replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_is_replaced_in_urls() {
        assert_eq!(
            super::replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::replace_database("postgres://h", "x"),
            "postgres://h/x"
        );
        assert_eq!(
            super::replace_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
    }
}
