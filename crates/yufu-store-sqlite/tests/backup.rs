//! Upgrades without data loss: a database that holds data is copied before
//! pending migrations change it, and the copy is a working database.
#![allow(clippy::unwrap_used)]

use yufu_domain::NewOrganisation;
use yufu_store::Store;
use yufu_store_sqlite::SqliteStore;

#[tokio::test]
async fn a_database_with_data_is_copied_before_migrating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("yufu.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let fresh = store.migrate().await.unwrap();
    assert!(fresh.applied >= 2);
    assert_eq!(fresh.backup, None, "an empty database needs no copy");
    store
        .create_organisation(&NewOrganisation {
            name: "广州演示物业".parse().unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(
        store.migrate().await.unwrap(),
        Default::default(),
        "nothing pending: no copy"
    );
    store.close().await;

    // Roll the newest migration back by hand, as an older release left it.
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for sql in [
        "DELETE FROM _sqlx_migrations WHERE version = 2",
        "DROP TABLE tariff_revisions",
        "ALTER TABLE meters DROP COLUMN tariff_code",
    ] {
        sqlx::query(sql).execute(&raw).await.unwrap();
    }
    raw.close().await;

    let store = SqliteStore::open(&path).await.unwrap();
    let upgrade = store.migrate().await.unwrap();
    assert_eq!(upgrade.applied, 1);
    let backup = upgrade.backup.expect("a copy before migrating");
    assert!(backup.contains(".before-migration-"), "{backup}");
    store.close().await;

    // The copy is the database as it was: data in, newest migration not applied.
    let copy = SqliteStore::open(std::path::Path::new(&backup))
        .await
        .unwrap();
    assert_eq!(copy.fleet_counts().await.unwrap().organisations, 1);
    let restored = copy.migrate().await.unwrap();
    assert_eq!(
        restored.applied, 1,
        "restoring the copy and migrating again works"
    );
    copy.close().await;
}
