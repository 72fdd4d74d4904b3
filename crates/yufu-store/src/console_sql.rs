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

        #[async_trait::async_trait]
        impl $crate::console::Console for $store {
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
        }
    };
}
