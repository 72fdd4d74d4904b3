//! The SQL implementation of [`Journal`](crate::Journal), written once and
//! expanded by each backend crate (see `sql.rs` for why a macro).
//!
//! The SQL is what both SQLite and PostgreSQL accept: `$N` placeholders,
//! multi-row `VALUES`, `ON CONFLICT … DO UPDATE`, `WITH RECURSIVE`, window
//! functions. Appends are multi-row inserts in one transaction, split so no
//! statement binds more than [`MAX_BINDS`](crate::journal_sql::MAX_BINDS)
//! parameters (SQLite allows 32 766, PostgreSQL 65 535).
//!
//! The expanding crate must have `sqlx` and `async_trait` as dependencies and
//! its store type must have `pool: sqlx::Pool<$db>` and an inherent
//! `async fn backend_claim_writer(&self) -> StoreResult<()>`.

/// The most bind parameters one statement of an append may carry.
pub const MAX_BINDS: usize = 30_000;

/// Rows of `columns` columns per multi-row `INSERT` (at least one).
pub fn rows_per_statement(columns: usize) -> usize {
    (MAX_BINDS / columns.max(1)).max(1)
}

/// `commands` with only the last version of each `no`, in the order of those
/// last versions. PostgreSQL refuses an `INSERT … ON CONFLICT DO UPDATE` that
/// touches the same row twice, and a batch may hold a command both queued
/// and already moved on.
pub fn last_version_per_no(
    commands: &[crate::journal::CommandRow],
) -> Vec<&crate::journal::CommandRow> {
    let mut last = std::collections::HashMap::with_capacity(commands.len());
    for (i, c) in commands.iter().enumerate() {
        last.insert(c.no, i);
    }
    commands
        .iter()
        .enumerate()
        .filter(|(i, c)| last.get(&c.no) == Some(i))
        .map(|(_, c)| c)
        .collect()
}

/// Expands `impl Journal for $store`, see the module docs.
#[macro_export]
macro_rules! impl_sql_journal {
    ($store:ty, $db:ty) => {
        $crate::impl_sql_journal!($store, $db, values);
    };
    ($store:ty, $db:ty, $bulk:ident) => {
        mod __journal_helpers {
            use $crate::StoreError;
            use $crate::journal::{
                AlarmRow, CommandRow, EntryRow, EventRow, ReadingRow, RechargeRow, TransitionRow,
            };

            pub(crate) type Db = $db;
            pub(crate) type Row = <Db as sqlx::Database>::Row;

            pub(crate) fn plain(e: sqlx::Error) -> StoreError {
                if let Some(db) = e.as_database_error() {
                    match db.kind() {
                        sqlx::error::ErrorKind::UniqueViolation => {
                            return StoreError::Conflict(format!("journal: {db}"));
                        }
                        sqlx::error::ErrorKind::ForeignKeyViolation => {
                            return StoreError::Reference(format!("journal: {db}"));
                        }
                        _ => {}
                    }
                }
                match e {
                    sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
                    other => StoreError::Backend(other.to_string()),
                }
            }

            pub(crate) fn col<'r, T>(
                row: &'r Row,
                table: &'static str,
                name: &str,
            ) -> Result<T, StoreError>
            where
                T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
            {
                sqlx::Row::try_get(row, name).map_err(|e| StoreError::Corrupt {
                    table,
                    reason: format!("column {name}: {e}"),
                })
            }

            pub(crate) fn parsed<T>(
                row: &Row,
                table: &'static str,
                name: &str,
            ) -> Result<T, StoreError>
            where
                T: std::str::FromStr,
                T::Err: std::fmt::Display,
            {
                let text: String = col(row, table, name)?;
                text.parse().map_err(|e| StoreError::Corrupt {
                    table,
                    reason: format!("column {name}: {e}"),
                })
            }

            pub(crate) fn parsed_opt<T>(
                row: &Row,
                table: &'static str,
                name: &str,
            ) -> Result<Option<T>, StoreError>
            where
                T: std::str::FromStr,
                T::Err: std::fmt::Display,
            {
                let text: Option<String> = col(row, table, name)?;
                text.map(|t| {
                    t.parse().map_err(|e| StoreError::Corrupt {
                        table,
                        reason: format!("column {name}: {e}"),
                    })
                })
                .transpose()
            }

            pub(crate) const READING: &str = "seq, meter_id, at_ms, register, rates, received_ms, verdict, quantity, charge_fen, prev_seq";
            pub(crate) fn reading(r: &Row) -> Result<ReadingRow, StoreError> {
                const T: &str = "readings";
                Ok(ReadingRow {
                    seq: col(r, T, "seq")?,
                    meter_id: parsed(r, T, "meter_id")?,
                    at_ms: col(r, T, "at_ms")?,
                    register: col(r, T, "register")?,
                    rates: col(r, T, "rates")?,
                    received_ms: col(r, T, "received_ms")?,
                    verdict: col(r, T, "verdict")?,
                    quantity: col(r, T, "quantity")?,
                    charge_fen: col(r, T, "charge_fen")?,
                    prev_seq: col(r, T, "prev_seq")?,
                })
            }

            pub(crate) const EVENT: &str = "seq, at_ms, kind, body";
            pub(crate) fn event(r: &Row) -> Result<EventRow, StoreError> {
                const T: &str = "journal_events";
                Ok(EventRow {
                    seq: col(r, T, "seq")?,
                    at_ms: col(r, T, "at_ms")?,
                    kind: col(r, T, "kind")?,
                    body: col(r, T, "body")?,
                })
            }

            pub(crate) const ENTRY: &str = "no, account_id, seq, kind, amount_fen, balance_after_fen, cause, idempotency_key, at_ms, journal_seq, prev_no";
            pub(crate) fn entry(r: &Row) -> Result<EntryRow, StoreError> {
                const T: &str = "ledger_entries";
                Ok(EntryRow {
                    no: col(r, T, "no")?,
                    account_id: parsed(r, T, "account_id")?,
                    seq: col(r, T, "seq")?,
                    kind: col(r, T, "kind")?,
                    amount_fen: col(r, T, "amount_fen")?,
                    balance_after_fen: col(r, T, "balance_after_fen")?,
                    cause: col(r, T, "cause")?,
                    idempotency_key: col(r, T, "idempotency_key")?,
                    at_ms: col(r, T, "at_ms")?,
                    journal_seq: col(r, T, "journal_seq")?,
                    prev_no: col(r, T, "prev_no")?,
                })
            }

            /// Recharge columns under `r_` aliases, so they can sit beside an entry's.
            pub(crate) const RECHARGE_ALIASED: &str = "r.account_id AS r_account_id, r.idempotency_key AS r_idempotency_key, \
                 r.amount_fen AS r_amount_fen, r.channel AS r_channel, r.reference AS r_reference, \
                 r.entry_no AS r_entry_no, r.at_ms AS r_at_ms";
            pub(crate) fn recharge(r: &Row) -> Result<RechargeRow, StoreError> {
                const T: &str = "recharges";
                Ok(RechargeRow {
                    account_id: parsed(r, T, "r_account_id")?,
                    idempotency_key: col(r, T, "r_idempotency_key")?,
                    amount_fen: col(r, T, "r_amount_fen")?,
                    channel: col(r, T, "r_channel")?,
                    reference: col(r, T, "r_reference")?,
                    entry_no: col(r, T, "r_entry_no")?,
                    at_ms: col(r, T, "r_at_ms")?,
                })
            }

            pub(crate) const COMMAND: &str = "no, meter_id, kind, state, attempts, reason, queued_at_ms, updated_at_ms";
            pub(crate) fn command(r: &Row) -> Result<CommandRow, StoreError> {
                const T: &str = "commands";
                Ok(CommandRow {
                    no: col(r, T, "no")?,
                    meter_id: parsed(r, T, "meter_id")?,
                    kind: col(r, T, "kind")?,
                    state: col(r, T, "state")?,
                    attempts: col(r, T, "attempts")?,
                    reason: col(r, T, "reason")?,
                    queued_at_ms: col(r, T, "queued_at_ms")?,
                    updated_at_ms: col(r, T, "updated_at_ms")?,
                })
            }

            pub(crate) const TRANSITION: &str = "command_no, from_state, to_state, reason, at_ms";
            pub(crate) fn transition(r: &Row) -> Result<TransitionRow, StoreError> {
                const T: &str = "command_transitions";
                Ok(TransitionRow {
                    command_no: col(r, T, "command_no")?,
                    from_state: col(r, T, "from_state")?,
                    to_state: col(r, T, "to_state")?,
                    reason: col(r, T, "reason")?,
                    at_ms: col(r, T, "at_ms")?,
                })
            }

            pub(crate) const ALARM: &str =
                "id, meter_id, kind, detail, raised_at_ms, cleared_at_ms";
            pub(crate) fn alarm(r: &Row) -> Result<$crate::journal::AlarmView, StoreError> {
                const T: &str = "alarms";
                Ok($crate::journal::AlarmView {
                    id: col(r, T, "id")?,
                    meter_id: parsed(r, T, "meter_id")?,
                    kind: col(r, T, "kind")?,
                    detail: col(r, T, "detail")?,
                    raised_at_ms: col(r, T, "raised_at_ms")?,
                    cleared_at_ms: col(r, T, "cleared_at_ms")?,
                })
            }

            /// Inserts `rows` into `table (columns)` as multi-row `INSERT`s of
            /// at most `MAX_BINDS` parameters each, `suffix` (e.g. an
            /// `ON CONFLICT` clause) after each `VALUES` list. `ncols` must be
            /// the number of values `push` binds per row.
            pub(crate) async fn insert_rows<T>(
                conn: &mut <Db as sqlx::Database>::Connection,
                head: &str,
                ncols: usize,
                suffix: &str,
                rows: &[T],
                push: impl Fn(&mut sqlx::query_builder::Separated<'_, Db, &'static str>, &T),
            ) -> Result<(), StoreError> {
                for chunk in rows.chunks($crate::journal_sql::rows_per_statement(ncols)) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(head);
                    qb.push_values(chunk, |mut sep, row| push(&mut sep, row));
                    qb.push(suffix);
                    qb.build().execute(&mut *conn).await.map_err(plain)?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::Journal for $store {
            async fn append(&self, batch: &$crate::journal::JournalBatch) -> $crate::StoreResult<()> {
                use __journal_helpers::{insert_rows, plain};
                if batch.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await.map_err(plain)?;
                $crate::__journal_hot_insert!($bulk, tx, batch, readings);
                if !batch.events.is_empty() {
                    insert_rows(
                        &mut tx,
                        "INSERT INTO journal_events (seq, at_ms, kind, body) ",
                        4,
                        "",
                        &batch.events,
                        |s, e| {
                            s.push_bind(e.seq)
                                .push_bind(e.at_ms)
                                .push_bind(e.kind.as_str())
                                .push_bind(e.body.as_str());
                        },
                    )
                    .await?;
                }
                $crate::__journal_hot_insert!($bulk, tx, batch, entries);
                if !batch.recharges.is_empty() {
                    insert_rows(
                        &mut tx,
                        "INSERT INTO recharges (account_id, idempotency_key, amount_fen, channel, reference, entry_no, at_ms) ",
                        7,
                        "",
                        &batch.recharges,
                        |s, r| {
                            s.push_bind(r.account_id.to_string())
                                .push_bind(r.idempotency_key.as_str())
                                .push_bind(r.amount_fen)
                                .push_bind(r.channel.as_str())
                                .push_bind(r.reference.as_str())
                                .push_bind(r.entry_no)
                                .push_bind(r.at_ms);
                        },
                    )
                    .await?;
                }
                if !batch.commands.is_empty() {
                    let commands = $crate::journal_sql::last_version_per_no(&batch.commands);
                    insert_rows(
                        &mut tx,
                        "INSERT INTO commands (no, meter_id, kind, state, attempts, reason, queued_at_ms, updated_at_ms) ",
                        8,
                        " ON CONFLICT (no) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, \
                         reason = excluded.reason, updated_at_ms = excluded.updated_at_ms",
                        &commands,
                        |s, c| {
                            s.push_bind(c.no)
                                .push_bind(c.meter_id.to_string())
                                .push_bind(c.kind.as_str())
                                .push_bind(c.state.as_str())
                                .push_bind(c.attempts)
                                .push_bind(c.reason.as_str())
                                .push_bind(c.queued_at_ms)
                                .push_bind(c.updated_at_ms);
                        },
                    )
                    .await?;
                }
                if !batch.transitions.is_empty() {
                    insert_rows(
                        &mut tx,
                        "INSERT INTO command_transitions (command_no, from_state, to_state, reason, at_ms) ",
                        5,
                        "",
                        &batch.transitions,
                        |s, t| {
                            s.push_bind(t.command_no)
                                .push_bind(t.from_state.as_deref())
                                .push_bind(t.to_state.as_str())
                                .push_bind(t.reason.as_str())
                                .push_bind(t.at_ms);
                        },
                    )
                    .await?;
                }
                if !batch.outbox.is_empty() {
                    insert_rows(
                        &mut tx,
                        "INSERT INTO outbox (account_id, kind, body, created_at_ms) ",
                        4,
                        "",
                        &batch.outbox,
                        |s, o| {
                            s.push_bind(o.account_id.map(|a| a.to_string()))
                                .push_bind(o.kind.as_str())
                                .push_bind(o.body.as_str())
                                .push_bind(o.created_at_ms);
                        },
                    )
                    .await?;
                }
                if !batch.alarms.is_empty() {
                    insert_rows(
                        &mut tx,
                        "INSERT INTO alarms (meter_id, kind, detail, raised_at_ms) ",
                        4,
                        "",
                        &batch.alarms,
                        |s, a| {
                            s.push_bind(a.meter_id.to_string())
                                .push_bind(a.kind.as_str())
                                .push_bind(a.detail.as_str())
                                .push_bind(a.raised_at_ms);
                        },
                    )
                    .await?;
                }
                for c in &batch.alarm_clears {
                    // Rare (a meter coming back): one statement each, on the
                    // (meter_id, id) index.
                    sqlx::query(
                        "UPDATE alarms SET cleared_at_ms = $1 \
                         WHERE meter_id = $2 AND kind = $3 AND cleared_at_ms IS NULL",
                    )
                    .bind(c.cleared_at_ms)
                    .bind(c.meter_id.to_string())
                    .bind(c.kind.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(plain)?;
                }
                tx.commit().await.map_err(plain)
            }

            async fn journal_after(
                &self,
                after: i64,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::journal::JournalRecord>> {
                use __journal_helpers::{col, plain, READING};
                // One statement, so both tables are read in one snapshot: two
                // separate reads could see a batch's events but not its
                // readings and skip them. Each side walks its primary key.
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT src, {READING}, kind, body FROM ( \
                         SELECT 'r' AS src, {READING}, CAST(NULL AS TEXT) AS kind, CAST(NULL AS TEXT) AS body \
                         FROM readings WHERE seq > $1 ORDER BY seq LIMIT $2 \
                     ) r \
                     UNION ALL \
                     SELECT src, seq, meter_id, at_ms, register, rates, received_ms, verdict, quantity, charge_fen, prev_seq, kind, body FROM ( \
                         SELECT 'e' AS src, seq, CAST(NULL AS TEXT) AS meter_id, at_ms, CAST(NULL AS BIGINT) AS register, \
                                CAST(NULL AS TEXT) AS rates, CAST(NULL AS BIGINT) AS received_ms, CAST(NULL AS TEXT) AS verdict, \
                                CAST(NULL AS BIGINT) AS quantity, CAST(NULL AS BIGINT) AS charge_fen, \
                                CAST(NULL AS BIGINT) AS prev_seq, kind, body \
                         FROM journal_events WHERE seq > $1 ORDER BY seq LIMIT $2 \
                     ) e \
                     ORDER BY seq LIMIT $2"
                )))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(plain)?;
                rows.iter()
                    .map(|r| {
                        let src: String = col(r, "journal", "src")?;
                        if src == "r" {
                            __journal_helpers::reading(r).map($crate::journal::JournalRecord::Reading)
                        } else {
                            __journal_helpers::event(r).map($crate::journal::JournalRecord::Event)
                        }
                    })
                    .collect()
            }

            async fn tail(&self) -> $crate::StoreResult<$crate::journal::JournalTail> {
                use __journal_helpers::{col, plain};
                // Four MAXes over primary keys: each is one index lookup.
                let row = sqlx::query(
                    "SELECT (SELECT COALESCE(MAX(seq), 0) FROM readings) AS readings, \
                            (SELECT COALESCE(MAX(seq), 0) FROM journal_events) AS events, \
                            (SELECT COALESCE(MAX(no), 0) FROM ledger_entries) AS entries, \
                            (SELECT COALESCE(MAX(no), 0) FROM commands) AS commands",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(plain)?;
                let readings: i64 = col(&row, "readings", "readings")?;
                let events: i64 = col(&row, "journal_events", "events")?;
                Ok($crate::journal::JournalTail {
                    seq: readings.max(events),
                    entry_no: col(&row, "ledger_entries", "entries")?,
                    command_no: col(&row, "commands", "commands")?,
                })
            }

            async fn claim_writer(&self) -> $crate::StoreResult<()> {
                self.backend_claim_writer().await
            }

            async fn put_checkpoint_chunk(
                &self,
                seq: i64,
                index: i64,
                body: &str,
            ) -> $crate::StoreResult<()> {
                use __journal_helpers::plain;
                let mut tx = self.pool.begin().await.map_err(plain)?;
                if index == 0 {
                    // A finished checkpoint is never rewritten (the state at
                    // a journal position cannot change), so a crash while
                    // writing another can never cost the one we have.
                    let finished: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM checkpoints WHERE seq = $1")
                            .bind(seq)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(plain)?;
                    if finished > 0 {
                        return Err($crate::StoreError::Conflict(format!(
                            "a checkpoint at journal position {seq} already exists"
                        )));
                    }
                    // Chunk 0 starts the checkpoint over: nothing of an
                    // unfinished attempt at the same position may mix in.
                    sqlx::query("DELETE FROM checkpoint_chunks WHERE checkpoint_seq = $1")
                        .bind(seq)
                        .execute(&mut *tx)
                        .await
                        .map_err(plain)?;
                }
                sqlx::query(
                    "INSERT INTO checkpoint_chunks (checkpoint_seq, chunk_index, body) VALUES ($1, $2, $3) \
                     ON CONFLICT (checkpoint_seq, chunk_index) DO UPDATE SET body = excluded.body",
                )
                .bind(seq)
                .bind(index)
                .bind(body)
                .execute(&mut *tx)
                .await
                .map_err(plain)?;
                tx.commit().await.map_err(plain)
            }

            async fn finish_checkpoint(
                &self,
                seq: i64,
                at_ms: i64,
                chunks: i64,
            ) -> $crate::StoreResult<()> {
                use __journal_helpers::plain;
                let mut tx = self.pool.begin().await.map_err(plain)?;
                // Chunks beyond the count are left from an earlier attempt.
                sqlx::query("DELETE FROM checkpoint_chunks WHERE checkpoint_seq = $1 AND chunk_index >= $2")
                    .bind(seq)
                    .bind(chunks)
                    .execute(&mut *tx)
                    .await
                    .map_err(plain)?;
                let stored: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM checkpoint_chunks WHERE checkpoint_seq = $1",
                )
                .bind(seq)
                .fetch_one(&mut *tx)
                .await
                .map_err(plain)?;
                if stored != chunks {
                    return Err($crate::StoreError::Corrupt {
                        table: "checkpoint_chunks",
                        reason: format!("checkpoint {seq} has {stored} chunks stored, {chunks} expected"),
                    });
                }
                // The new checkpoint replaces every older one in the same
                // transaction: there is always exactly one whole latest.
                sqlx::query("DELETE FROM checkpoint_chunks WHERE checkpoint_seq < $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(plain)?;
                sqlx::query("DELETE FROM checkpoints WHERE seq <= $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(plain)?;
                sqlx::query("INSERT INTO checkpoints (seq, at_ms, chunk_count) VALUES ($1, $2, $3)")
                    .bind(seq)
                    .bind(at_ms)
                    .bind(chunks)
                    .execute(&mut *tx)
                    .await
                    .map_err(plain)?;
                tx.commit().await.map_err(plain)
            }

            async fn latest_checkpoint_head(
                &self,
            ) -> $crate::StoreResult<Option<$crate::journal::CheckpointHead>> {
                use __journal_helpers::{col, plain};
                let row = sqlx::query(
                    "SELECT seq, at_ms, chunk_count FROM checkpoints ORDER BY seq DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await
                .map_err(plain)?;
                let Some(row) = row else { return Ok(None) };
                const T: &str = "checkpoints";
                Ok(Some($crate::journal::CheckpointHead {
                    seq: col(&row, T, "seq")?,
                    at_ms: col(&row, T, "at_ms")?,
                    chunks: col(&row, T, "chunk_count")?,
                }))
            }

            async fn checkpoint_chunk(&self, seq: i64, index: i64) -> $crate::StoreResult<String> {
                use __journal_helpers::plain;
                let body: Option<String> = sqlx::query_scalar(
                    "SELECT body FROM checkpoint_chunks WHERE checkpoint_seq = $1 AND chunk_index = $2",
                )
                .bind(seq)
                .bind(index)
                .fetch_optional(&self.pool)
                .await
                .map_err(plain)?;
                body.ok_or_else(|| $crate::StoreError::Corrupt {
                    table: "checkpoint_chunks",
                    reason: format!("checkpoint {seq} lacks chunk {index}"),
                })
            }

            async fn find_recharge(
                &self,
                account: $crate::domain::AccountId,
                key: &str,
            ) -> $crate::StoreResult<
                Option<($crate::journal::RechargeRow, $crate::journal::EntryRow)>,
            > {
                use __journal_helpers::{plain, ENTRY, RECHARGE_ALIASED};
                let entry_cols = ENTRY
                    .split(", ")
                    .map(|c| format!("e.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {RECHARGE_ALIASED}, {entry_cols} FROM recharges r \
                     JOIN ledger_entries e ON e.no = r.entry_no \
                     WHERE r.account_id = $1 AND r.idempotency_key = $2"
                )))
                .bind(account.to_string())
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(plain)?;
                row.map(|r| Ok((__journal_helpers::recharge(&r)?, __journal_helpers::entry(&r)?)))
                    .transpose()
            }

            async fn ledger_chain(
                &self,
                from: i64,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::journal::EntryRow>> {
                use __journal_helpers::{plain, ENTRY};
                let prefixed = ENTRY
                    .split(", ")
                    .map(|c| format!("e.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                // Each step is one primary-key lookup; `depth` stops the walk
                // after `limit` rows instead of at the start of the account.
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "WITH RECURSIVE chain ({ENTRY}, depth) AS ( \
                         SELECT {ENTRY}, CAST(1 AS BIGINT) FROM ledger_entries WHERE no = $1 \
                         UNION ALL \
                         SELECT {prefixed}, chain.depth + 1 FROM ledger_entries e \
                         JOIN chain ON e.no = chain.prev_no WHERE chain.depth < $2 \
                     ) SELECT {ENTRY} FROM chain ORDER BY depth LIMIT $2"
                )))
                .bind(from)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(plain)?;
                rows.iter().map(__journal_helpers::entry).collect()
            }

            async fn reading_chain(
                &self,
                from: i64,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::journal::ReadingRow>> {
                use __journal_helpers::{plain, READING};
                let prefixed = READING
                    .split(", ")
                    .map(|c| format!("r.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "WITH RECURSIVE chain ({READING}, depth) AS ( \
                         SELECT {READING}, CAST(1 AS BIGINT) FROM readings WHERE seq = $1 \
                         UNION ALL \
                         SELECT {prefixed}, chain.depth + 1 FROM readings r \
                         JOIN chain ON r.seq = chain.prev_seq WHERE chain.depth < $2 \
                     ) SELECT {READING} FROM chain ORDER BY depth LIMIT $2"
                )))
                .bind(from)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(plain)?;
                rows.iter().map(__journal_helpers::reading).collect()
            }

            async fn meter_commands(
                &self,
                meter: $crate::domain::MeterId,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::journal::CommandRow>> {
                use __journal_helpers::{plain, COMMAND};
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COMMAND} FROM commands WHERE meter_id = $1 ORDER BY no DESC LIMIT $2"
                )))
                .bind(meter.to_string())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(plain)?;
                rows.iter().map(__journal_helpers::command).collect()
            }

            async fn command_transitions(
                &self,
                command_no: i64,
            ) -> $crate::StoreResult<Vec<$crate::journal::TransitionRow>> {
                use __journal_helpers::{plain, TRANSITION};
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TRANSITION} FROM command_transitions WHERE command_no = $1 ORDER BY id"
                )))
                .bind(command_no)
                .fetch_all(&self.pool)
                .await
                .map_err(plain)?;
                rows.iter().map(__journal_helpers::transition).collect()
            }

            async fn meter_alarms(
                &self,
                meter: $crate::domain::MeterId,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::journal::AlarmView>> {
                use __journal_helpers::{plain, ALARM};
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {ALARM} FROM alarms WHERE meter_id = $1 ORDER BY id DESC LIMIT $2"
                )))
                .bind(meter.to_string())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(plain)?;
                rows.iter().map(__journal_helpers::alarm).collect()
            }

            async fn list_alarms(
                &self,
                filter: &$crate::journal::AlarmFilter,
            ) -> $crate::StoreResult<Vec<$crate::journal::AlarmView>> {
                use __journal_helpers::{plain, ALARM};
                // Newest first by the primary key; the filters are optional
                // binds so the statement text stays fixed.
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {ALARM} FROM alarms \
                     WHERE ($1 IS NULL OR kind = $1) \
                       AND ($2 = 0 OR cleared_at_ms IS NULL) \
                       AND ($3 IS NULL OR id < $3) \
                     ORDER BY id DESC LIMIT $4"
                )))
                .bind(filter.kind.clone())
                .bind(i64::from(filter.open_only))
                .bind(filter.before_id)
                .bind(i64::from(filter.limit))
                .fetch_all(&self.pool)
                .await
                .map_err(plain)?;
                rows.iter().map(__journal_helpers::alarm).collect()
            }

            async fn ledger_totals(&self) -> $crate::StoreResult<Vec<$crate::journal::LedgerTotal>> {
                use __journal_helpers::{col, parsed, plain};
                // One pass with window functions: no index on (account_id, seq)
                // is needed (the hot table has none), and an account with a
                // duplicated seq still yields one row.
                let rows = sqlx::query(
                    "SELECT account_id, sum_fen, entries, max_seq, balance_after_fen FROM ( \
                         SELECT account_id, \
                                CAST(SUM(amount_fen) OVER (PARTITION BY account_id) AS BIGINT) AS sum_fen, \
                                COUNT(*) OVER (PARTITION BY account_id) AS entries, \
                                MAX(seq) OVER (PARTITION BY account_id) AS max_seq, \
                                ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY seq DESC, no DESC) AS rn, \
                                balance_after_fen \
                         FROM ledger_entries \
                     ) t WHERE rn = 1 ORDER BY account_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(plain)?;
                const T: &str = "ledger_entries";
                rows.iter()
                    .map(|r| {
                        Ok($crate::journal::LedgerTotal {
                            account_id: parsed(r, T, "account_id")?,
                            sum_fen: col(r, T, "sum_fen")?,
                            entries: col(r, T, "entries")?,
                            max_seq: col(r, T, "max_seq")?,
                            last_balance_fen: col(r, T, "balance_after_fen")?,
                        })
                    })
                    .collect()
            }

            async fn readings_count(&self) -> $crate::StoreResult<i64> {
                use __journal_helpers::{col, plain};
                let row = sqlx::query("SELECT COUNT(*) AS n FROM readings")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(plain)?;
                col(&row, "readings", "n")
            }
        }
    };
}

/// The two hottest appends (readings, ledger entries), per bulk strategy:
/// `values` = multi-row `INSERT … VALUES` (SQLite, and any backend);
/// `unnest` = one `INSERT … SELECT * FROM UNNEST($1::bigint[], …)` per
/// table with one array per column (PostgreSQL: a handful of binds instead
/// of tens of thousands, measured twice as fast).
#[doc(hidden)]
#[macro_export]
macro_rules! __journal_hot_insert {
    (values, $tx:ident, $batch:ident, readings) => {
        let batch = $batch;
        let tx = &mut $tx;
                if !batch.readings.is_empty() {
                    insert_rows(
                        &mut *tx,
                        "INSERT INTO readings (seq, meter_id, at_ms, register, rates, received_ms, verdict, quantity, charge_fen, prev_seq) ",
                        10,
                        "",
                        &batch.readings,
                        |s, r| {
                            s.push_bind(r.seq)
                                .push_bind(r.meter_id.to_string())
                                .push_bind(r.at_ms)
                                .push_bind(r.register)
                                .push_bind(r.rates.as_deref())
                                .push_bind(r.received_ms)
                                .push_bind(r.verdict.as_str())
                                .push_bind(r.quantity)
                                .push_bind(r.charge_fen)
                                .push_bind(r.prev_seq);
                        },
                    )
                    .await?;
                }
    };
    (values, $tx:ident, $batch:ident, entries) => {
        let batch = $batch;
        let tx = &mut $tx;
                if !batch.entries.is_empty() {
                    insert_rows(
                        &mut *tx,
                        "INSERT INTO ledger_entries (no, account_id, seq, kind, amount_fen, balance_after_fen, cause, idempotency_key, at_ms, journal_seq, prev_no) ",
                        11,
                        "",
                        &batch.entries,
                        |s, e| {
                            s.push_bind(e.no)
                                .push_bind(e.account_id.to_string())
                                .push_bind(e.seq)
                                .push_bind(e.kind.as_str())
                                .push_bind(e.amount_fen)
                                .push_bind(e.balance_after_fen)
                                .push_bind(e.cause.as_str())
                                .push_bind(e.idempotency_key.as_str())
                                .push_bind(e.at_ms)
                                .push_bind(e.journal_seq)
                                .push_bind(e.prev_no);
                        },
                    )
                    .await?;
                }
    };
    (unnest, $tx:ident, $batch:ident, readings) => {
        if !$batch.readings.is_empty() {
            let r = &$batch.readings;
            sqlx::query(
                "INSERT INTO readings (seq, meter_id, at_ms, register, rates, received_ms, verdict, quantity, charge_fen, prev_seq) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[])",
            )
            .bind(r.iter().map(|x| x.seq).collect::<Vec<i64>>())
            .bind(r.iter().map(|x| x.meter_id.to_string()).collect::<Vec<String>>())
            .bind(r.iter().map(|x| x.at_ms).collect::<Vec<i64>>())
            .bind(r.iter().map(|x| x.register).collect::<Vec<i64>>())
            .bind(r.iter().map(|x| x.rates.clone()).collect::<Vec<Option<String>>>())
            .bind(r.iter().map(|x| x.received_ms).collect::<Vec<i64>>())
            .bind(r.iter().map(|x| x.verdict.clone()).collect::<Vec<String>>())
            .bind(r.iter().map(|x| x.quantity).collect::<Vec<Option<i64>>>())
            .bind(r.iter().map(|x| x.charge_fen).collect::<Vec<Option<i64>>>())
            .bind(r.iter().map(|x| x.prev_seq).collect::<Vec<Option<i64>>>())
            .execute(&mut *$tx)
            .await
            .map_err(__journal_helpers::plain)?;
        }
    };
    (unnest, $tx:ident, $batch:ident, entries) => {
        if !$batch.entries.is_empty() {
            let e = &$batch.entries;
            sqlx::query(
                "INSERT INTO ledger_entries (no, account_id, seq, kind, amount_fen, balance_after_fen, cause, idempotency_key, at_ms, journal_seq, prev_no) \
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[])",
            )
            .bind(e.iter().map(|x| x.no).collect::<Vec<i64>>())
            .bind(e.iter().map(|x| x.account_id.to_string()).collect::<Vec<String>>())
            .bind(e.iter().map(|x| x.seq).collect::<Vec<i64>>())
            .bind(e.iter().map(|x| x.kind.clone()).collect::<Vec<String>>())
            .bind(e.iter().map(|x| x.amount_fen).collect::<Vec<i64>>())
            .bind(e.iter().map(|x| x.balance_after_fen).collect::<Vec<i64>>())
            .bind(e.iter().map(|x| x.cause.clone()).collect::<Vec<String>>())
            .bind(e.iter().map(|x| x.idempotency_key.clone()).collect::<Vec<String>>())
            .bind(e.iter().map(|x| x.at_ms).collect::<Vec<i64>>())
            .bind(e.iter().map(|x| x.journal_seq).collect::<Vec<i64>>())
            .bind(e.iter().map(|x| x.prev_no).collect::<Vec<Option<i64>>>())
            .execute(&mut *$tx)
            .await
            .map_err(__journal_helpers::plain)?;
        }
    };
}
