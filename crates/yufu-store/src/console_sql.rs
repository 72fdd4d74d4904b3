//! The SQL implementation of [`Console`](crate::console::Console), written
//! once and expanded by each backend crate next to `impl_sql_store!` (whose
//! `__sql_helpers` module it reuses).

/// Expands `impl Console for $store`, see the module docs.
#[macro_export]
macro_rules! impl_sql_console {
    ($store:ty) => {
        impl $store {
            /// The smallest `key` of `table` whose `time` column is at or
            /// after `at_ms`, by bisection over the primary key: for
            /// append-only tables whose key grows with time. `None` when
            /// every row is older. About log2(rows) indexed probes.
            async fn __first_key_at(
                &self,
                table: &str,
                key: &str,
                time: &str,
                at_ms: i64,
            ) -> $crate::StoreResult<Option<i64>> {
                let bounds: (Option<i64>, Option<i64>) = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!("SELECT MIN({key}), MAX({key}) FROM {table}"),
                ))
                .fetch_one(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let (Some(mut lo), Some(mut hi)) = bounds else {
                    return Ok(None);
                };
                let probe = format!(
                    "SELECT {key}, {time} FROM {table} WHERE {key} >= $1 ORDER BY {key} LIMIT 1"
                );
                let first_from = |x: i64| {
                    let q = probe.clone();
                    async move {
                        let row: (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(q))
                            .bind(x)
                            .fetch_one(&self.pool)
                            .await
                            .map_err(__sql_helpers::plain)?;
                        Ok::<_, $crate::StoreError>(row)
                    }
                };
                if first_from(hi).await?.1 < at_ms {
                    return Ok(None);
                }
                // f(x) = "the first row at or after key x is new enough" is
                // false then true as x grows; find the smallest x with f(x).
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let (k, t) = first_from(mid).await?;
                    if t >= at_ms {
                        hi = mid;
                    } else {
                        lo = k + 1;
                    }
                }
                Ok(Some(first_from(lo).await?.0))
            }
        }

        /// Sealing and reading portal tickets (see `TicketRow`).
        mod __portal_sql {
            use $crate::StoreError;

            pub(crate) const TICKET: &str = "id, organisation_id, customer_id, account_id, kind, \
                subject, body, status, reply, replied_by, created_at_ms, updated_at_ms";
            pub(crate) type TicketTuple = (
                String,
                String,
                String,
                Option<String>,
                String,
                String,
                String,
                String,
                Option<String>,
                Option<String>,
                i64,
                i64,
            );

            pub(crate) fn parse<T: std::str::FromStr>(
                table: &'static str,
                v: &str,
            ) -> Result<T, StoreError>
            where
                T::Err: std::fmt::Display,
            {
                v.parse().map_err(|e| StoreError::Corrupt {
                    table,
                    reason: format!("{v}: {e}"),
                })
            }

            /// The AAD of a sealed ticket text: table, column and row, so a
            /// ciphertext copied to another row or column does not open.
            fn aad(column: &str, id: &str) -> String {
                format!("tickets.{column}:{id}")
            }

            fn vault_err(e: $crate::__vault::VaultError) -> StoreError {
                StoreError::Corrupt {
                    table: "tickets",
                    reason: format!("sealed text: {e}"),
                }
            }

            pub(crate) fn seal(
                vault: &$crate::Vault,
                column: &str,
                id: &str,
                v: &str,
            ) -> Result<String, StoreError> {
                vault.seal(v, &aad(column, id)).map_err(vault_err)
            }

            pub(crate) fn open(
                vault: &$crate::Vault,
                column: &str,
                id: &str,
                v: String,
            ) -> Result<String, StoreError> {
                if $crate::Vault::is_sealed(&v) {
                    vault.open(&v, &aad(column, id)).map_err(vault_err)
                } else {
                    Ok(v)
                }
            }

            pub(crate) fn ticket(
                vault: &$crate::Vault,
                t: TicketTuple,
            ) -> Result<$crate::console::TicketRow, StoreError> {
                const T: &str = "tickets";
                let id = t.0;
                Ok($crate::console::TicketRow {
                    organisation_id: parse(T, &t.1)?,
                    customer_id: parse(T, &t.2)?,
                    account_id: t.3.as_deref().map(|a| parse(T, a)).transpose()?,
                    kind: t.4,
                    subject: open(vault, "subject", &id, t.5)?,
                    body: open(vault, "body", &id, t.6)?,
                    status: t.7,
                    reply: t.8.map(|r| open(vault, "reply", &id, r)).transpose()?,
                    replied_by: t.9,
                    created_at_ms: t.10,
                    updated_at_ms: t.11,
                    id,
                })
            }
        }

        /// Row shape of the console's alarm queries (`alarms x` joined to
        /// its meter, unit and building).
        mod __console_alarms {
            use super::__sql_helpers::{col, parsed, parsed_opt, Row};

            pub(crate) const COLUMNS: &str = "x.id, x.meter_id, m.serial, m.organisation_id, b.site_id, \
                x.kind, x.detail, x.raised_at_ms, x.cleared_at_ms, x.acked_at_ms, x.acked_by, \
                x.ack_note, x.resolved_at_ms, x.resolved_by, x.resolution_note";
            pub(crate) const JOINS: &str = "JOIN meters m ON m.id = x.meter_id \
                LEFT JOIN units u ON u.id = m.unit_id LEFT JOIN buildings b ON b.id = u.building_id";
            /// Written exactly as the partial indexes' condition, so both
            /// planners can use them.
            pub(crate) const OPEN: &str = "a.cleared_at_ms IS NULL AND a.resolved_at_ms IS NULL";

            pub(crate) fn record(r: &Row) -> Result<$crate::console::AlarmRecord, $crate::StoreError> {
                const T: &str = "alarms";
                Ok($crate::console::AlarmRecord {
                    id: col(r, T, "id")?,
                    meter_id: parsed(r, T, "meter_id")?,
                    meter_serial: col(r, T, "serial")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    site_id: parsed_opt(r, T, "site_id")?,
                    kind: col(r, T, "kind")?,
                    detail: col(r, T, "detail")?,
                    raised_at_ms: col(r, T, "raised_at_ms")?,
                    cleared_at_ms: col(r, T, "cleared_at_ms")?,
                    acked_at_ms: col(r, T, "acked_at_ms")?,
                    acked_by: col(r, T, "acked_by")?,
                    ack_note: col(r, T, "ack_note")?,
                    resolved_at_ms: col(r, T, "resolved_at_ms")?,
                    resolved_by: col(r, T, "resolved_by")?,
                    resolution_note: col(r, T, "resolution_note")?,
                })
            }
        }

        #[async_trait::async_trait]
        impl $crate::console::Console for $store {
            // --- alarms, users, audit ---

            async fn get_alarm(&self, id: i64) -> $crate::StoreResult<$crate::console::AlarmRecord> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM alarms x {} WHERE x.id = $1",
                    __console_alarms::COLUMNS,
                    __console_alarms::JOINS
                )))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?
                .ok_or_else(|| $crate::StoreError::not_found("alarm", id))?;
                __console_alarms::record(&row)
            }

            async fn search_alarms(
                &self,
                f: &$crate::console::AlarmSearch,
            ) -> $crate::StoreResult<Vec<$crate::console::AlarmRecord>> {
                use $crate::console::AlarmState;
                // The statement is assembled from fixed fragments; every
                // value is a bind. The inner query picks the page from the
                // alarms' own indexes (newest first, stopping at LIMIT); the
                // outer one adds meter, unit and building to those rows only.
                let mut n = 1; // $1 is the organisation
                let mut next = || {
                    n += 1;
                    format!("${n}")
                };
                let mut conds: Vec<String> = Vec::new();
                match f.state {
                    AlarmState::Open => conds.push(__console_alarms::OPEN.into()),
                    AlarmState::New => {
                        conds.push(__console_alarms::OPEN.into());
                        conds.push("a.acked_at_ms IS NULL".into());
                    }
                    AlarmState::Acknowledged => {
                        conds.push(__console_alarms::OPEN.into());
                        conds.push("a.acked_at_ms IS NOT NULL".into());
                    }
                    AlarmState::Resolved => conds.push("a.resolved_at_ms IS NOT NULL".into()),
                    AlarmState::Cleared => conds.push(
                        "a.cleared_at_ms IS NOT NULL AND a.resolved_at_ms IS NULL".into(),
                    ),
                    AlarmState::All => {}
                }
                if !f.kinds.is_empty() {
                    let marks: Vec<String> = f.kinds.iter().map(|_| next()).collect();
                    conds.push(format!("a.kind IN ({})", marks.join(", ")));
                }
                if !f.not_kinds.is_empty() {
                    let marks: Vec<String> = f.not_kinds.iter().map(|_| next()).collect();
                    conds.push(format!("a.kind NOT IN ({})", marks.join(", ")));
                }
                if f.meter_serial.is_some() {
                    // One meter by the (organisation_id, serial) key, then
                    // its alarms by (meter_id, id).
                    conds.push(format!(
                        "a.meter_id = (SELECT id FROM meters WHERE organisation_id = $1 AND serial = {})",
                        next()
                    ));
                }
                match &f.sites {
                    // Alarms carry their meter's site (kept by triggers,
                    // migration 0008): one (site_id, id) range per site.
                    Some(sites) if !sites.is_empty() => {
                        let marks: Vec<String> = sites.iter().map(|_| next()).collect();
                        conds.push(format!("a.site_id IN ({})", marks.join(", ")));
                    }
                    Some(_) => return Ok(Vec::new()),
                    // A correlated check (not a join) keeps the alarms the
                    // driving table, read newest first.
                    None => conds.push(
                        "EXISTS (SELECT 1 FROM meters om WHERE om.id = a.meter_id AND om.organisation_id = $1)"
                            .into(),
                    ),
                }
                if f.before_id.is_some() {
                    conds.push(format!("a.id < {}", next()));
                }
                let limit = next();
                let sql = format!(
                    "SELECT {cols} FROM (SELECT a.* FROM alarms a WHERE {conds} \
                     ORDER BY a.id DESC LIMIT {limit}) x {joins} \
                     WHERE m.organisation_id = $1 ORDER BY x.id DESC",
                    cols = __console_alarms::COLUMNS,
                    joins = __console_alarms::JOINS,
                    conds = conds.join(" AND "),
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(f.organisation.to_string());
                for k in &f.kinds {
                    q = q.bind(k.clone());
                }
                for k in &f.not_kinds {
                    q = q.bind(k.clone());
                }
                if let Some(serial) = &f.meter_serial {
                    q = q.bind(serial.clone());
                }
                if let Some(sites) = &f.sites {
                    for s in sites {
                        q = q.bind(s.to_string());
                    }
                }
                if let Some(before) = f.before_id {
                    q = q.bind(before);
                }
                let rows = q
                    .bind(i64::from(f.limit.clamp(1, 500)))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(__console_alarms::record).collect()
            }

            async fn acknowledge_alarm(
                &self,
                id: i64,
                by: &str,
                at_ms: i64,
                note: Option<&str>,
            ) -> $crate::StoreResult<bool> {
                // The condition in the UPDATE makes a second, concurrent
                // acknowledgement change nothing (and report so).
                let done = sqlx::query(
                    "UPDATE alarms SET acked_at_ms = $1, acked_by = $2, ack_note = $3 \
                     WHERE id = $4 AND acked_at_ms IS NULL AND resolved_at_ms IS NULL",
                )
                .bind(at_ms)
                .bind(by)
                .bind(note)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected() > 0)
            }

            async fn resolve_alarm(
                &self,
                id: i64,
                by: &str,
                at_ms: i64,
                note: &str,
            ) -> $crate::StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE alarms SET resolved_at_ms = $1, resolved_by = $2, resolution_note = $3, \
                     acked_at_ms = COALESCE(acked_at_ms, $1), acked_by = COALESCE(acked_by, $2) \
                     WHERE id = $4 AND resolved_at_ms IS NULL",
                )
                .bind(at_ms)
                .bind(by)
                .bind(note)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected() > 0)
            }

            async fn staff_page(
                &self,
                org: $crate::domain::OrganisationId,
                after: Option<$crate::domain::StaffUserId>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::console::StaffSummary>> {
                use __sql_helpers::{col, parsed};
                const T: &str = "staff_users";
                let rows = sqlx::query(
                    "SELECT id, username, display_name, role, active, site_scope, created_at_ms \
                     FROM staff_users WHERE organisation_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(org.to_string())
                .bind(after.map(|a| a.to_string()).unwrap_or_default())
                .bind(i64::from(limit.clamp(1, 500)))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::console::StaffSummary {
                            id: parsed(r, T, "id")?,
                            username: col(r, T, "username")?,
                            display_name: col(r, T, "display_name")?,
                            role: parsed(r, T, "role")?,
                            active: col(r, T, "active")?,
                            site_scope: col(r, T, "site_scope")?,
                            created_at_ms: col(r, T, "created_at_ms")?,
                        })
                    })
                    .collect()
            }

            async fn live_sessions(
                &self,
                org: $crate::domain::OrganisationId,
                now_ms: i64,
                before: Option<(i64, String)>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::console::SessionSummary>> {
                use __sql_helpers::col;
                const T: &str = "sessions";
                // Newest first by expiry (login time + the fixed maximum),
                // on the (organisation_id, expires_at_ms, id) index.
                let (before_exp, before_id) = before.unwrap_or((i64::MAX, String::new()));
                let rows = sqlx::query(
                    "SELECT s.id, s.kind, s.subject_id, su.username, s.ip, s.user_agent, \
                     s.created_at_ms, s.last_seen_at_ms, s.expires_at_ms FROM sessions s \
                     LEFT JOIN staff_users su ON s.kind = 'staff' AND su.id = s.subject_id \
                     WHERE s.organisation_id = $1 AND s.revoked_at_ms IS NULL AND s.expires_at_ms > $2 \
                     AND (s.expires_at_ms < $3 OR (s.expires_at_ms = $3 AND s.id < $4)) \
                     ORDER BY s.expires_at_ms DESC, s.id DESC LIMIT $5",
                )
                .bind(org.to_string())
                .bind(now_ms)
                .bind(before_exp)
                .bind(before_id)
                .bind(i64::from(limit.clamp(1, 500)))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::console::SessionSummary {
                            id: col(r, T, "id")?,
                            kind: col(r, T, "kind")?,
                            subject_id: col(r, T, "subject_id")?,
                            username: col(r, T, "username")?,
                            ip: col(r, T, "ip")?,
                            user_agent: col(r, T, "user_agent")?,
                            created_at_ms: col(r, T, "created_at_ms")?,
                            last_seen_at_ms: col(r, T, "last_seen_at_ms")?,
                            expires_at_ms: col(r, T, "expires_at_ms")?,
                        })
                    })
                    .collect()
            }

            // --- load-test fleet ---

            async fn insert_fleet_batch(
                &self,
                batch: &$crate::console::FleetBatch,
            ) -> $crate::StoreResult<()> {
                let vault = self.vault.get()?;
                let conflict = |e| __sql_helpers::map_err(e, "generated row exists", "generated row refers to a missing row");
                let mut tx = self.pool.begin().await.map_err(__sql_helpers::plain)?;
                for b in &batch.buildings {
                    sqlx::query("INSERT INTO buildings (id, site_id, code, name, floors, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(b.id.to_string())
                        .bind(b.site_id.to_string())
                        .bind(b.code.as_str())
                        .bind(b.name.as_str())
                        .bind(i32::from(b.floors))
                        .bind(b.created_at.as_millisecond())
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict)?;
                }
                for u in &batch.units {
                    sqlx::query("INSERT INTO units (id, building_id, code, floor, kind, area_centi_sqm, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                        .bind(u.id.to_string())
                        .bind(u.building_id.to_string())
                        .bind(u.code.as_str())
                        .bind(i32::from(u.floor))
                        .bind(u.kind.as_str())
                        .bind(u.area.get())
                        .bind(u.created_at.as_millisecond())
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict)?;
                }
                for c in &batch.customers {
                    let sealed = __sql_helpers::seal_customer(&vault, c)?;
                    sqlx::query(
                        "INSERT INTO customers (id, organisation_id, kind, name, phone, id_number, address, phone_index, name_index, created_at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(c.id.to_string())
                    .bind(c.organisation_id.to_string())
                    .bind(c.kind.as_str())
                    .bind(sealed.name)
                    .bind(sealed.phone)
                    .bind(sealed.id_number)
                    .bind(sealed.address)
                    .bind(sealed.phone_index)
                    .bind(sealed.name_index)
                    .bind(c.created_at.as_millisecond())
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict)?;
                }
                for a in &batch.accounts {
                    sqlx::query("INSERT INTO accounts (id, organisation_id, number, customer_id, class, status, balance_fen, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                        .bind(a.id.to_string())
                        .bind(a.organisation_id.to_string())
                        .bind(a.number.as_str())
                        .bind(a.customer_id.to_string())
                        .bind(a.class.as_str())
                        .bind(a.status.as_str())
                        .bind(a.balance.0)
                        .bind(a.created_at.as_millisecond())
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict)?;
                }
                for m in &batch.meters {
                    sqlx::query(
                        "INSERT INTO meters (id, organisation_id, serial, utility, model, protocol, comm_address, multiplier, status, unit_id, account_id, tariff_code, created_at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(m.id.to_string())
                    .bind(m.organisation_id.to_string())
                    .bind(m.serial.as_str())
                    .bind(m.utility.as_str())
                    .bind(m.model.as_str())
                    .bind(m.protocol.as_str())
                    .bind(m.comm_address.as_str())
                    .bind(i64::from(m.multiplier.get()))
                    .bind(m.status.as_str())
                    .bind(m.unit_id.map(|u| u.to_string()))
                    .bind(m.account_id.map(|a| a.to_string()))
                    .bind(m.tariff_code.as_ref().map(|t| t.as_str().to_owned()))
                    .bind(m.created_at.as_millisecond())
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict)?;
                }
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn command_state_counts(&self) -> $crate::StoreResult<Vec<(String, i64)>> {
                sqlx::query_as("SELECT state, COUNT(*) FROM commands GROUP BY state ORDER BY state")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)
            }

            async fn open_alarm_counts(&self) -> $crate::StoreResult<Vec<(String, i64)>> {
                sqlx::query_as(
                    "SELECT kind, COUNT(*) FROM alarms \
                     WHERE cleared_at_ms IS NULL AND resolved_at_ms IS NULL \
                     GROUP BY kind ORDER BY kind",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)
            }

            async fn offline_by_utility(&self) -> $crate::StoreResult<Vec<(String, i64)>> {
                sqlx::query_as(
                    "SELECT m.utility, COUNT(DISTINCT a.meter_id) FROM alarms a \
                     JOIN meters m ON m.id = a.meter_id \
                     WHERE a.kind = 'comm_fault' AND a.cleared_at_ms IS NULL \
                     AND a.resolved_at_ms IS NULL GROUP BY m.utility ORDER BY m.utility",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)
            }

            async fn ledger_sums_since(
                &self,
                at_ms: i64,
            ) -> $crate::StoreResult<Vec<$crate::console::LedgerSum>> {
                let Some(first) = self
                    .__first_key_at("ledger_entries", "no", "at_ms", at_ms)
                    .await?
                else {
                    return Ok(Vec::new());
                };
                let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT kind, COUNT(*), CAST(SUM(amount_fen) AS BIGINT) FROM ledger_entries \
                     WHERE no >= $1 AND at_ms >= $2 GROUP BY kind ORDER BY kind",
                )
                .bind(first)
                .bind(at_ms)
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows
                    .into_iter()
                    .map(|(kind, entries, sum)| $crate::console::LedgerSum {
                        kind,
                        entries,
                        amount_fen: sum.unwrap_or(0),
                    })
                    .collect())
            }

            async fn consumption_since(
                &self,
                at_ms: i64,
            ) -> $crate::StoreResult<Vec<(String, i64)>> {
                let Some(first) = self
                    .__first_key_at("readings", "seq", "received_ms", at_ms)
                    .await?
                else {
                    return Ok(Vec::new());
                };
                let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
                    "SELECT m.utility, CAST(SUM(r.quantity) AS BIGINT) FROM readings r \
                     JOIN meters m ON m.id = r.meter_id \
                     WHERE r.seq >= $1 AND r.received_ms >= $2 AND r.quantity IS NOT NULL \
                     GROUP BY m.utility ORDER BY m.utility",
                )
                .bind(first)
                .bind(at_ms)
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows.into_iter().map(|(u, q)| (u, q.unwrap_or(0))).collect())
            }

            // --- meter, sites, search ---

            async fn reading_chain_since(
                &self,
                from: i64,
                since_ms: i64,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::journal::ReadingRow>> {
                use __journal_helpers::READING;
                let prefixed = READING
                    .split(", ")
                    .map(|c| format!("r.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                // The recursion follows prev_seq only from rows inside the
                // window, so it reads exactly one row older than it.
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "WITH RECURSIVE chain ({READING}, depth) AS ( \
                         SELECT {READING}, CAST(1 AS BIGINT) FROM readings WHERE seq = $1 \
                         UNION ALL \
                         SELECT {prefixed}, chain.depth + 1 FROM readings r \
                         JOIN chain ON r.seq = chain.prev_seq \
                         WHERE chain.depth < $2 AND chain.at_ms >= $3 \
                     ) SELECT {READING} FROM chain ORDER BY depth LIMIT $2"
                )))
                .bind(from)
                .bind(i64::from(limit.clamp(1, 100_000)))
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter().map(__journal_helpers::reading).collect()
            }

            async fn audit_of_targets(
                &self,
                targets: &[String],
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::access::AuditEntry>> {
                if targets.is_empty() {
                    return Ok(Vec::new());
                }
                let targets = &targets[..targets.len().min(100)];
                let list = (0..targets.len())
                    .map(|i| format!("${}", i + 2))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT {} FROM audit_log WHERE target IN ({list}) ORDER BY seq DESC LIMIT $1",
                    __access_rows::AUDIT
                );
                let mut q = sqlx::query_as::<_, __access_rows::AuditTuple>(sqlx::AssertSqlSafe(sql))
                    .bind(i64::from(limit.clamp(1, 500)));
                for t in targets {
                    q = q.bind(t);
                }
                let rows = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;
                Ok(rows.into_iter().map(__access_rows::audit).collect())
            }

            async fn meters_in_units(
                &self,
                units: &[$crate::domain::UnitId],
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::domain::Meter>> {
                if units.is_empty() {
                    return Ok(Vec::new());
                }
                let units = &units[..units.len().min(100)];
                let list = (0..units.len())
                    .map(|i| format!("${}", i + 2))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT {} FROM meters WHERE unit_id IN ({list}) ORDER BY unit_id, id LIMIT $1",
                    __sql_rows::METER
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(i64::from(limit.clamp(1, 1000)));
                for u in units {
                    q = q.bind(u.to_string());
                }
                let rows = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;
                rows.iter().map(__sql_rows::meter).collect()
            }

            async fn accounts_by_ids(
                &self,
                ids: &[$crate::domain::AccountId],
            ) -> $crate::StoreResult<Vec<$crate::domain::Account>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let ids = &ids[..ids.len().min(100)];
                let list = (0..ids.len())
                    .map(|i| format!("${}", i + 1))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT {} FROM accounts WHERE id IN ({list}) ORDER BY id",
                    __sql_rows::ACCOUNT
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in ids {
                    q = q.bind(id.to_string());
                }
                let rows = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;
                rows.iter().map(__sql_rows::account).collect()
            }

            async fn meters_by_serial_prefix(
                &self,
                org: $crate::domain::OrganisationId,
                prefix: &str,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::domain::Meter>> {
                // A range rather than LIKE, so both backends walk the unique
                // (organisation_id, serial) index. Serials are ASCII below
                // U+007F, so "prefix" <= serial < "prefix\u{7f}" holds
                // exactly the serials that start with it under byte-wise
                // ordering; the filter below keeps the answer exact under
                // any other collation too.
                let sql = format!(
                    "SELECT {} FROM meters WHERE organisation_id = $1 AND serial >= $2 AND serial < $3 \
                     ORDER BY serial LIMIT $4",
                    __sql_rows::METER
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org.to_string())
                    .bind(prefix)
                    .bind(format!("{prefix}\u{7f}"))
                    .bind(i64::from(limit.clamp(1, 500)))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let m = __sql_rows::meter(r)?;
                    if m.serial.as_str().starts_with(prefix) {
                        out.push(m);
                    }
                }
                Ok(out)
            }

            async fn accounts_by_number_prefix(
                &self,
                org: $crate::domain::OrganisationId,
                prefix: &str,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::domain::Account>> {
                // As for serials: a range on the unique (organisation_id,
                // number) index.
                let sql = format!(
                    "SELECT {} FROM accounts WHERE organisation_id = $1 AND number >= $2 AND number < $3 \
                     ORDER BY number LIMIT $4",
                    __sql_rows::ACCOUNT
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org.to_string())
                    .bind(prefix)
                    .bind(format!("{prefix}\u{7f}"))
                    .bind(i64::from(limit.clamp(1, 500)))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let a = __sql_rows::account(r)?;
                    if a.number.as_str().starts_with(prefix) {
                        out.push(a);
                    }
                }
                Ok(out)
            }

            async fn customers_by_name(
                &self,
                org: $crate::domain::OrganisationId,
                name: &str,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::domain::Customer>> {
                let vault = self.vault.get()?;
                let normalized = $crate::__vault::normalize_name(name);
                if normalized.is_empty() {
                    return Ok(Vec::new());
                }
                // Every key's index, so rows not yet resealed after a key
                // rotation are found too.
                let candidates = vault.blind_index_candidates("name", &normalized);
                let list = (0..candidates.len())
                    .map(|i| format!("${}", i + 3))
                    .collect::<Vec<_>>()
                    .join(", ");
                // No ORDER BY in SQL (see find_customers_by_phone): SQLite
                // would walk the organisation in id order instead of the
                // blind index. The few matches are sorted below.
                let sql = format!(
                    "SELECT {} FROM customers WHERE organisation_id = $1 AND name_index IN ({list}) \
                     LIMIT $2",
                    __sql_rows::CUSTOMER
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org.to_string())
                    .bind(i64::from(limit.clamp(1, 500)));
                for c in &candidates {
                    q = q.bind(c);
                }
                let rows = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;
                let mut found = rows
                    .iter()
                    .map(|r| __sql_rows::customer(r).and_then(|c| __sql_helpers::open_customer(&vault, c)))
                    .collect::<$crate::StoreResult<Vec<$crate::domain::Customer>>>()?;
                found.sort_by_key(|c| c.id.to_string());
                Ok(found)
            }

            // --- account, counter, tariffs ---

            async fn account_recharges(
                &self,
                account: $crate::domain::AccountId,
                before_entry_no: Option<i64>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::journal::RechargeRow>> {
                // Keyed by (account_id, entry_no) (index recharges_by_entry).
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM recharges r WHERE r.account_id = $1 AND r.entry_no < $2 \
                     ORDER BY r.entry_no DESC LIMIT $3",
                    __journal_helpers::RECHARGE_ALIASED
                )))
                .bind(account.to_string())
                .bind(before_entry_no.unwrap_or(i64::MAX))
                .bind(i64::from(limit.clamp(1, 500)))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter().map(__journal_helpers::recharge).collect()
            }

            async fn tariff_revisions(
                &self,
                org: $crate::domain::OrganisationId,
                code: &$crate::domain::TariffCode,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::console::TariffRevisionInfo>> {
                let rows: Vec<(i64, String, i64)> = sqlx::query_as(
                    "SELECT revision, name, created_at_ms FROM tariff_revisions \
                     WHERE organisation_id = $1 AND code = $2 ORDER BY revision DESC LIMIT $3",
                )
                .bind(org.to_string())
                .bind(code.as_str())
                .bind(i64::from(limit.clamp(1, 500)))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows
                    .into_iter()
                    .map(|(revision, name, created_at_ms)| $crate::console::TariffRevisionInfo {
                        revision,
                        name,
                        created_at_ms,
                    })
                    .collect())
            }

            async fn tariff_revision(
                &self,
                org: $crate::domain::OrganisationId,
                code: &$crate::domain::TariffCode,
                revision: i64,
            ) -> $crate::StoreResult<Option<$crate::domain::TariffRevision>> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM tariff_revisions WHERE organisation_id = $1 AND code = $2 AND revision = $3",
                    __sql_rows::TARIFF
                )))
                .bind(org.to_string())
                .bind(code.as_str())
                .bind(revision)
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                row.as_ref().map(__sql_rows::tariff).transpose()
            }

            // --- portal ---

            async fn create_ticket(
                &self,
                t: &$crate::console::TicketRow,
            ) -> $crate::StoreResult<()> {
                let vault = self.vault.get()?;
                let seal = |column: &str, v: &str| __portal_sql::seal(&vault, column, &t.id, v);
                let reply = t.reply.as_deref().map(|r| seal("reply", r)).transpose()?;
                sqlx::query(
                    "INSERT INTO tickets (id, organisation_id, customer_id, account_id, kind, \
                     subject, body, status, reply, replied_by, created_at_ms, updated_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(t.id.as_str())
                .bind(t.organisation_id.to_string())
                .bind(t.customer_id.to_string())
                .bind(t.account_id.map(|a| a.to_string()))
                .bind(t.kind.as_str())
                .bind(seal("subject", &t.subject)?)
                .bind(seal("body", &t.body)?)
                .bind(t.status.as_str())
                .bind(reply)
                .bind(t.replied_by.as_deref())
                .bind(t.created_at_ms)
                .bind(t.updated_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        "a ticket with this id exists",
                        "the ticket's organisation, customer or account does not exist",
                    )
                })?;
                Ok(())
            }

            async fn get_ticket(
                &self,
                id: &str,
            ) -> $crate::StoreResult<Option<$crate::console::TicketRow>> {
                let row: Option<__portal_sql::TicketTuple> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!("SELECT {} FROM tickets WHERE id = $1", __portal_sql::TICKET),
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                match row {
                    Some(t) => Ok(Some(__portal_sql::ticket(&*self.vault.get()?, t)?)),
                    None => Ok(None),
                }
            }

            async fn customer_tickets(
                &self,
                customer: $crate::domain::CustomerId,
                before: Option<(i64, &str)>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::console::TicketRow>> {
                let (ms, last) = before.unwrap_or((i64::MAX, ""));
                let rows: Vec<__portal_sql::TicketTuple> = sqlx::query_as(sqlx::AssertSqlSafe(
                    format!(
                        "SELECT {} FROM tickets WHERE customer_id = $1 \
                         AND (created_at_ms < $2 OR (created_at_ms = $2 AND id < $3)) \
                         ORDER BY created_at_ms DESC, id DESC LIMIT $4",
                        __portal_sql::TICKET
                    ),
                ))
                .bind(customer.to_string())
                .bind(ms)
                .bind(last)
                .bind(i64::from(limit.clamp(1, 500)))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let vault = self.vault.get()?;
                rows.into_iter()
                    .map(|t| __portal_sql::ticket(&vault, t))
                    .collect()
            }

            async fn list_tickets(
                &self,
                org: $crate::domain::OrganisationId,
                status: Option<&str>,
                before: Option<(i64, &str)>,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::console::TicketRow>> {
                let (ms, last) = before.unwrap_or((i64::MAX, ""));
                let mut q = sqlx::query_as::<_, __portal_sql::TicketTuple>(sqlx::AssertSqlSafe(
                    format!(
                        "SELECT {} FROM tickets WHERE organisation_id = $1 {} \
                         AND (created_at_ms < $2 OR (created_at_ms = $2 AND id < $3)) \
                         ORDER BY created_at_ms DESC, id DESC LIMIT $4",
                        __portal_sql::TICKET,
                        if status.is_some() { "AND status = $5" } else { "" },
                    ),
                ))
                .bind(org.to_string())
                .bind(ms)
                .bind(last)
                .bind(i64::from(limit.clamp(1, 500)));
                if let Some(s) = status {
                    q = q.bind(s);
                }
                let rows = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;
                if rows.is_empty() {
                    return Ok(Vec::new());
                }
                let vault = self.vault.get()?;
                rows.into_iter()
                    .map(|t| __portal_sql::ticket(&vault, t))
                    .collect()
            }

            async fn answer_ticket(
                &self,
                id: &str,
                reply: &str,
                replied_by: &str,
                status: &str,
                at_ms: i64,
            ) -> $crate::StoreResult<bool> {
                let sealed = __portal_sql::seal(&*self.vault.get()?, "reply", id, reply)?;
                let done = sqlx::query(
                    "UPDATE tickets SET reply = $2, replied_by = $3, status = $4, updated_at_ms = $5 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(sealed)
                .bind(replied_by)
                .bind(status)
                .bind(at_ms)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected() > 0)
            }

            async fn create_payment_order(
                &self,
                o: &$crate::console::PaymentOrderRow,
            ) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO payment_orders (id, organisation_id, account_id, customer_id, \
                     provider, amount_fen, status, created_at_ms, paid_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(o.id.as_str())
                .bind(o.organisation_id.to_string())
                .bind(o.account_id.to_string())
                .bind(o.customer_id.to_string())
                .bind(o.provider.as_str())
                .bind(o.amount_fen)
                .bind(o.status.as_str())
                .bind(o.created_at_ms)
                .bind(o.paid_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        "a payment order with this id exists",
                        "the order's organisation, account or customer does not exist",
                    )
                })?;
                Ok(())
            }

            async fn get_payment_order(
                &self,
                id: &str,
            ) -> $crate::StoreResult<Option<$crate::console::PaymentOrderRow>> {
                let row: Option<(String, String, String, String, String, i64, String, i64, Option<i64>)> =
                    sqlx::query_as(
                        "SELECT id, organisation_id, account_id, customer_id, provider, amount_fen, \
                         status, created_at_ms, paid_at_ms FROM payment_orders WHERE id = $1",
                    )
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                let Some(r) = row else { return Ok(None) };
                const T: &str = "payment_orders";
                Ok(Some($crate::console::PaymentOrderRow {
                    id: r.0,
                    organisation_id: __portal_sql::parse(T, &r.1)?,
                    account_id: __portal_sql::parse(T, &r.2)?,
                    customer_id: __portal_sql::parse(T, &r.3)?,
                    provider: r.4,
                    amount_fen: r.5,
                    status: r.6,
                    created_at_ms: r.7,
                    paid_at_ms: r.8,
                }))
            }

            async fn settle_payment_order(
                &self,
                id: &str,
                status: &str,
                at_ms: i64,
            ) -> $crate::StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE payment_orders SET status = $2, paid_at_ms = $3 \
                     WHERE id = $1 AND status = 'pending'",
                )
                .bind(id)
                .bind(status)
                .bind((status == "paid").then_some(at_ms))
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected() > 0)
            }

            async fn account_notifications(
                &self,
                account: $crate::domain::AccountId,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::console::NotificationRow>> {
                let rows: Vec<(i64, String, String, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT id, kind, body, created_at_ms, sent_at_ms FROM outbox \
                     WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(account.to_string())
                .bind(i64::from(limit.clamp(1, 500)))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows
                    .into_iter()
                    .map(|(id, kind, body, created_at_ms, sent_at_ms)| {
                        $crate::console::NotificationRow {
                            id,
                            kind,
                            body,
                            created_at_ms,
                            sent_at_ms,
                        }
                    })
                    .collect())
            }

            async fn reseal_tickets(&self) -> $crate::StoreResult<(u64, u64)> {
                let vault = self.vault.get()?;
                let (mut checked, mut resealed) = (0u64, 0u64);
                let mut after = String::new();
                loop {
                    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
                        "SELECT id, subject, body, reply FROM tickets WHERE id > $1 ORDER BY id LIMIT 500",
                    )
                    .bind(after.as_str())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                    let Some(last) = rows.last() else { break };
                    after = last.0.clone();
                    let mut tx = self.pool.begin().await.map_err(__sql_helpers::plain)?;
                    for (id, subject, body, reply) in rows {
                        checked += 1;
                        if [Some(&subject), Some(&body), reply.as_ref()]
                            .into_iter()
                            .flatten()
                            .all(|v| vault.is_current(v))
                        {
                            continue;
                        }
                        let again = |column: &str, v: &str| -> $crate::StoreResult<String> {
                            let plain = __portal_sql::open(&vault, column, &id, v.to_owned())?;
                            __portal_sql::seal(&vault, column, &id, &plain)
                        };
                        sqlx::query("UPDATE tickets SET subject = $2, body = $3, reply = $4 WHERE id = $1")
                            .bind(id.as_str())
                            .bind(again("subject", &subject)?)
                            .bind(again("body", &body)?)
                            .bind(reply.as_deref().map(|r| again("reply", r)).transpose()?)
                            .execute(&mut *tx)
                            .await
                            .map_err(__sql_helpers::plain)?;
                        resealed += 1;
                    }
                    tx.commit().await.map_err(__sql_helpers::plain)?;
                }
                Ok((checked, resealed))
            }

            async fn ledger_window(
                &self,
                from: i64,
                since_ms: i64,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::console::LedgerPoint>> {
                // The walk goes on from an entry only while that entry is in
                // the window, so it ends one entry past the window's start.
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "WITH RECURSIVE chain (kind, amount_fen, at_ms, prev_no, depth) AS ( \
                         SELECT kind, amount_fen, at_ms, prev_no, CAST(1 AS BIGINT) \
                         FROM ledger_entries WHERE no = $1 \
                         UNION ALL \
                         SELECT e.kind, e.amount_fen, e.at_ms, e.prev_no, chain.depth + 1 \
                         FROM ledger_entries e JOIN chain ON e.no = chain.prev_no \
                         WHERE chain.depth < $2 AND chain.at_ms >= $3 \
                     ) SELECT kind, amount_fen, at_ms FROM chain ORDER BY depth",
                )
                .bind(from)
                .bind(i64::from(limit.max(1)))
                .bind(since_ms)
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows
                    .into_iter()
                    .map(|(kind, amount_fen, at_ms)| $crate::console::LedgerPoint {
                        kind,
                        amount_fen,
                        at_ms,
                    })
                    .collect())
            }
        }
    };
}
