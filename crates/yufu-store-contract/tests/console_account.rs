//! The store contract of the console's account, counter and tariff part of
//! `Console`: an account's recharges paged newest first, and a tariff
//! code's revisions listed and read one by one. Every story runs on SQLite
//! and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use yufu_domain::*;
use yufu_store::Store;
use yufu_store::journal::{EntryRow, JournalBatch, RechargeRow};
use yufu_store_contract::TestDb;

/// Runs each story against both backends: `sqlite::NAME` and `postgres::NAME`.
macro_rules! contract {
    ($($story:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let db = yufu_store_contract::TestDb::sqlite().await;
                    super::$story(&db).await;
                    db.finish().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let Some(db) = yufu_store_contract::TestDb::postgres().await else { return };
                    super::$story(&db).await;
                    db.finish().await;
                }
            )+
        }
    };
}

contract!(
    recharges_page_newest_first_per_account,
    tariff_revisions_list_and_read_by_number,
    ledger_sums_since_match_a_full_scan_at_every_instant,
);

fn entry(no: i64, account: AccountId, amount: i64, prev_no: Option<i64>) -> EntryRow {
    EntryRow {
        no,
        account_id: account,
        seq: no,
        kind: "recharge".into(),
        amount_fen: amount,
        balance_after_fen: amount,
        cause: r#"{"type":"payment","channel":"counter","reference":"R"}"#.into(),
        idempotency_key: format!("key-{no}"),
        at_ms: 1_700_000_000_000 + no,
        journal_seq: no,
        prev_no,
    }
}

fn recharge(no: i64, account: AccountId, amount: i64) -> RechargeRow {
    RechargeRow {
        account_id: account,
        idempotency_key: format!("key-{no}"),
        amount_fen: amount,
        channel: "counter".into(),
        reference: format!("R-{no}"),
        entry_no: no,
        at_ms: 1_700_000_000_000 + no,
    }
}

async fn recharges_page_newest_first_per_account(db: &TestDb) {
    let (a, b) = (AccountId::new(), AccountId::new());
    // Five recharges of `a` and two of `b`, interleaved.
    let plan = [(1, a), (2, b), (3, a), (4, a), (5, b), (6, a), (7, a)];
    let mut last: std::collections::HashMap<AccountId, i64> = Default::default();
    let mut batch = JournalBatch::default();
    for (no, account) in plan {
        batch
            .entries
            .push(entry(no, account, no * 100, last.get(&account).copied()));
        batch.recharges.push(recharge(no, account, no * 100));
        last.insert(account, no);
    }
    db.store().journal().append(&batch).await.unwrap();
    let console = db.store().console();

    let first = console.account_recharges(a, None, 2).await.unwrap();
    let nos: Vec<i64> = first.iter().map(|r| r.entry_no).collect();
    assert_eq!(nos, [7, 6], "newest first");
    assert_eq!(first[0], recharge(7, a, 700), "every column round-trips");
    let next = console
        .account_recharges(a, Some(first[1].entry_no), 2)
        .await
        .unwrap();
    assert_eq!(next.iter().map(|r| r.entry_no).collect::<Vec<_>>(), [4, 3]);
    let rest = console.account_recharges(a, Some(3), 2).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.entry_no).collect::<Vec<_>>(), [1]);
    assert!(
        console
            .account_recharges(a, Some(1), 2)
            .await
            .unwrap()
            .is_empty()
    );
    let other = console.account_recharges(b, None, 10).await.unwrap();
    assert_eq!(other.iter().map(|r| r.entry_no).collect::<Vec<_>>(), [5, 2]);
    assert!(
        console
            .account_recharges(AccountId::new(), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn tariff_revisions_list_and_read_by_number(db: &TestDb) {
    let store: &dyn Store = db.store();
    let org = |n: &'static str| async move {
        store
            .create_organisation(&NewOrganisation {
                name: n.parse().unwrap(),
            })
            .await
            .unwrap()
            .id
    };
    let (mine, theirs) = (org("价格测试物业").await, org("别家物业").await);
    let code: TariffCode = "gd-res".parse().unwrap();
    let add = |o: OrganisationId, code: &str, name: &str| {
        let new = NewTariffRevision {
            organisation_id: o,
            code: code.parse().unwrap(),
            utility: Utility::Electricity,
            name: name.to_owned(),
            source_toml: format!("# {name}"),
        };
        async move { store.add_tariff_revision(&new).await.unwrap() }
    };
    add(mine, "gd-res", "first").await;
    add(mine, "gd-res", "second").await;
    add(mine, "other", "another code").await;
    add(theirs, "gd-res", "someone else's").await;
    let third = add(mine, "gd-res", "third").await;
    assert_eq!(third.revision, 3);

    let console = store.console();
    let listed = console.tariff_revisions(mine, &code, 2).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|r| (r.revision, r.name.as_str()))
            .collect::<Vec<_>>(),
        [(3, "third"), (2, "second")]
    );
    assert_eq!(listed[0].created_at_ms, third.created_at.as_millisecond());
    assert_eq!(
        console
            .tariff_revisions(theirs, &code, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let one = console
        .tariff_revision(mine, &code, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (one.revision, one.name.as_str(), one.source_toml.as_str()),
        (1, "first", "# first")
    );
    assert_eq!(
        console.tariff_revision(mine, &code, 3).await.unwrap(),
        Some(third)
    );
    assert_eq!(console.tariff_revision(mine, &code, 9).await.unwrap(), None);
    let missing: TariffCode = "nope".parse().unwrap();
    assert_eq!(
        console.tariff_revision(mine, &missing, 1).await.unwrap(),
        None
    );
}

/// The dashboard's "today" and "this month": `ledger_sums_since` bisects
/// the ledger's `no` (it has no time index). Entries with gaps in `no`,
/// several at the same instant and two kinds; the answer for every
/// threshold (before, on, between and after the entries) must equal the
/// sum a plain scan gives.
async fn ledger_sums_since_match_a_full_scan_at_every_instant(db: &TestDb) {
    let account = AccountId::new();
    let mut entries = Vec::new();
    let mut prev = None;
    // no: 3, 4, 7, 8, 9, 15, 16, …; time: steps of 1 s, pairs share one.
    for i in 0..40i64 {
        let no = 3 + i + (i / 3) * 2;
        let mut e = entry(no, account, 0, prev);
        e.seq = i + 1;
        e.at_ms = 1_000_000 + (i / 2) * 1_000;
        if i % 4 == 0 {
            e.kind = "consumption".into();
            e.amount_fen = -(i + 1);
        } else {
            e.amount_fen = 100 * (i + 1);
        }
        e.idempotency_key = format!("k-{no}");
        prev = Some(no);
        entries.push(e);
    }
    let batch = JournalBatch {
        entries: entries.clone(),
        ..JournalBatch::default()
    };
    db.store().journal().append(&batch).await.unwrap();
    let console = db.store().console();
    for at in (990_000..1_025_000).step_by(500) {
        let got = console.ledger_sums_since(at).await.unwrap();
        for kind in ["consumption", "recharge"] {
            let want: Vec<&EntryRow> = entries
                .iter()
                .filter(|e| e.at_ms >= at && e.kind == kind)
                .collect();
            let found = got.iter().find(|l| l.kind == kind);
            match found {
                Some(l) => {
                    assert_eq!(
                        l.entries,
                        i64::try_from(want.len()).unwrap(),
                        "{kind} at {at}"
                    );
                    assert_eq!(
                        l.amount_fen,
                        want.iter().map(|e| e.amount_fen).sum::<i64>(),
                        "{kind} at {at}"
                    );
                }
                None => assert!(want.is_empty(), "{kind} at {at}: {} missed", want.len()),
            }
        }
    }
}
