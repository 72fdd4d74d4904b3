//! The SQL implementation of [`Field`](crate::lifecycle::Field): from
//! installation to the scrapyard. Written once and expanded by each backend
//! crate after `impl_sql_procurement!`, whose `__apply_transition` moves the
//! devices here, inside the same transaction as the rest of each method's
//! work (a refused move rolls everything back).
//!
//! Exclusivity rules (one planned installation per meter, one running
//! commissioning run per meter, one rollout per meter) are checked in the
//! transaction for a readable message, and held by unique indexes of
//! migration 0009 against two writers racing on PostgreSQL.
//!
//! Lists of ids go into `IN (…)` as placeholders, 500 at a time, so a
//! rollout of any size stays within both backends' bind limits.

/// Expands `impl Field for $store`, see the module docs.
#[macro_export]
macro_rules! impl_sql_field {
    ($store:ty) => {
        /// Row shapes of the field tables, and the small helpers the
        /// queries share.
        mod __field_rows {
            use super::__sql_helpers::{col, parsed, parsed_opt, small, Row};
            use $crate::domain::lifecycle::DeviceState;
            use $crate::lifecycle::{
                Certification, CommissioningRun, Disposal, InstallationPlan, MeterSwap, Rollout,
                RolloutMember,
            };
            use $crate::StoreError;

            pub(crate) const DAY_MS: i64 = 86_400_000;
            /// How many ids one `IN (…)` list carries.
            pub(crate) const CHUNK: usize = 500;

            pub(crate) const CERTIFICATION: &str = "id, organisation_id, staff_user_id, utility, number, \
                issued_on, expires_on, revoked_at_ms, created_at_ms";
            pub(crate) const PLAN: &str = "id, organisation_id, meter_id, unit_id, site_id, account_id, \
                tariff_code, scheduled_on, installer_id, status, checklist, opening_reading, note, \
                created_by, created_at_ms, completed_by, completed_at_ms";
            pub(crate) const RUN: &str =
                "id, meter_id, outcome, steps, reason, started_by, started_at_ms, finished_at_ms";
            pub(crate) const SWAP: &str = "id, organisation_id, old_meter_id, new_meter_id, account_id, \
                unit_id, final_reading, opening_reading, final_charge_fen, rollout_id, actor, reason, at_ms";
            pub(crate) const ROLLOUT: &str = "id, organisation_id, name, model_id, pilot_approved_by, \
                pilot_approved_at_ms, created_by, created_at_ms";
            pub(crate) const DISPOSAL: &str =
                "meter_id, method, reason, record, disposed_by, disposed_at_ms";
            /// The states `field_devices` lists (`DeviceState::in_field`).
            pub(crate) const IN_FIELD: &str = "('in_service', 'faulty', 'under_repair')";
            /// The `meters.status` values that count as a meter fitted in
            /// its unit (`site_coverage`).
            pub(crate) const FITTED: &str = "('installed', 'in_service', 'faulty')";

            /// `$first, $first+1, …`: `n` placeholders for an `IN (…)` list.
            pub(crate) fn marks(first: usize, n: usize) -> String {
                (first..first + n)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }

            /// Refuses an update of a planned installation that found it
            /// no longer planned: another writer moved it first.
            pub(crate) fn still_planned(
                done: <<Row as sqlx::Row>::Database as sqlx::Database>::QueryResult,
                id: $crate::domain::InstallationId,
            ) -> Result<(), StoreError> {
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict(format!(
                        "installation {id} was changed meanwhile; reload and try again"
                    )));
                }
                Ok(())
            }

            pub(crate) fn certification(r: &Row) -> Result<Certification, StoreError> {
                const T: &str = "certifications";
                Ok(Certification {
                    id: parsed(r, T, "id")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    staff_user_id: parsed(r, T, "staff_user_id")?,
                    utility: parsed(r, T, "utility")?,
                    number: col(r, T, "number")?,
                    issued_on: parsed(r, T, "issued_on")?,
                    expires_on: parsed(r, T, "expires_on")?,
                    revoked_at_ms: col(r, T, "revoked_at_ms")?,
                    created_at_ms: col(r, T, "created_at_ms")?,
                })
            }

            pub(crate) fn plan(r: &Row) -> Result<InstallationPlan, StoreError> {
                const T: &str = "installation_plans";
                Ok(InstallationPlan {
                    id: parsed(r, T, "id")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    meter_id: parsed(r, T, "meter_id")?,
                    unit_id: parsed(r, T, "unit_id")?,
                    site_id: parsed(r, T, "site_id")?,
                    account_id: parsed_opt(r, T, "account_id")?,
                    tariff_code: col(r, T, "tariff_code")?,
                    scheduled_on: parsed(r, T, "scheduled_on")?,
                    installer_id: parsed(r, T, "installer_id")?,
                    status: parsed(r, T, "status")?,
                    checklist: col(r, T, "checklist")?,
                    opening_reading: col(r, T, "opening_reading")?,
                    note: col(r, T, "note")?,
                    created_by: col(r, T, "created_by")?,
                    created_at_ms: col(r, T, "created_at_ms")?,
                    completed_by: col(r, T, "completed_by")?,
                    completed_at_ms: col(r, T, "completed_at_ms")?,
                })
            }

            pub(crate) fn run(r: &Row) -> Result<CommissioningRun, StoreError> {
                const T: &str = "commissioning_runs";
                Ok(CommissioningRun {
                    id: col(r, T, "id")?,
                    meter_id: parsed(r, T, "meter_id")?,
                    outcome: parsed(r, T, "outcome")?,
                    steps: col(r, T, "steps")?,
                    reason: col(r, T, "reason")?,
                    started_by: col(r, T, "started_by")?,
                    started_at_ms: col(r, T, "started_at_ms")?,
                    finished_at_ms: col(r, T, "finished_at_ms")?,
                })
            }

            pub(crate) fn swap(r: &Row) -> Result<MeterSwap, StoreError> {
                const T: &str = "meter_swaps";
                Ok(MeterSwap {
                    id: col(r, T, "id")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    old_meter_id: parsed(r, T, "old_meter_id")?,
                    new_meter_id: parsed(r, T, "new_meter_id")?,
                    account_id: parsed(r, T, "account_id")?,
                    unit_id: parsed(r, T, "unit_id")?,
                    final_reading: col(r, T, "final_reading")?,
                    opening_reading: col(r, T, "opening_reading")?,
                    final_charge: $crate::domain::Fen(col(r, T, "final_charge_fen")?),
                    rollout_id: parsed_opt(r, T, "rollout_id")?,
                    actor: col(r, T, "actor")?,
                    reason: col(r, T, "reason")?,
                    at_ms: col(r, T, "at_ms")?,
                })
            }

            pub(crate) fn rollout(r: &Row) -> Result<Rollout, StoreError> {
                const T: &str = "rollouts";
                Ok(Rollout {
                    id: parsed(r, T, "id")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    name: col(r, T, "name")?,
                    model_id: parsed(r, T, "model_id")?,
                    pilot_approved_by: col(r, T, "pilot_approved_by")?,
                    pilot_approved_at_ms: col(r, T, "pilot_approved_at_ms")?,
                    created_by: col(r, T, "created_by")?,
                    created_at_ms: col(r, T, "created_at_ms")?,
                })
            }

            /// A device's state: its lifecycle record's, or (untracked) the
            /// one its `meters.status` stands for.
            pub(crate) fn state(r: &Row, table: &'static str) -> Result<DeviceState, StoreError> {
                match parsed_opt::<DeviceState>(r, table, "state")? {
                    Some(s) => Ok(s),
                    None => Ok(DeviceState::from_meter_status(parsed(r, table, "status")?)),
                }
            }

            pub(crate) fn member(r: &Row) -> Result<RolloutMember, StoreError> {
                const T: &str = "rollout_members";
                Ok(RolloutMember {
                    meter_id: parsed(r, T, "meter_id")?,
                    serial: col(r, T, "serial")?,
                    wave: small(r, T, "wave")?,
                    state: state(r, T)?,
                    new_meter_id: parsed_opt(r, T, "new_meter_id")?,
                    swapped_at_ms: col(r, T, "swapped_at_ms")?,
                })
            }

            pub(crate) fn disposal(r: &Row) -> Result<Disposal, StoreError> {
                const T: &str = "disposals";
                Ok(Disposal {
                    meter_id: parsed(r, T, "meter_id")?,
                    method: col(r, T, "method")?,
                    reason: col(r, T, "reason")?,
                    record: col(r, T, "record")?,
                    disposed_by: col(r, T, "disposed_by")?,
                    disposed_at_ms: col(r, T, "disposed_at_ms")?,
                })
            }

            /// Milliseconds of `[start, end)` inside `[from, to)`.
            pub(crate) fn overlap(start: i64, end: i64, from: i64, to: i64) -> i64 {
                (end.min(to) - start.max(from)).max(0)
            }

            /// A meter's time in the field within `[from, to)`, replayed
            /// from its history (`moves`: to-state and time, oldest first,
            /// all before `to`). `initial` is its state from registration
            /// (`created_ms`) to its first move: the state that move started
            /// from, or with no history its state now — registered in the
            /// field means in the field since then, as `__apply_transition`
            /// assumes for a meter that had no lifecycle record.
            pub(crate) fn field_ms(
                initial: DeviceState,
                created_ms: i64,
                moves: &[(DeviceState, i64)],
                from: i64,
                to: i64,
            ) -> i64 {
                let mut since = initial.in_field().then_some(created_ms);
                let mut total = 0;
                for &(to_state, at) in moves {
                    match (since, to_state.in_field()) {
                        (Some(s), false) => {
                            total += overlap(s, at, from, to);
                            since = None;
                        }
                        (None, true) => since = Some(at),
                        _ => {}
                    }
                }
                if let Some(s) = since {
                    total += overlap(s, to, from, to);
                }
                total
            }
        }

        impl $store {
            /// Reads an installation plan inside `tx` and checks it is
            /// still planned: NotFound, or Conflict naming its status.
            /// Returns the plan's meter.
            async fn __planned(
                tx: &mut sqlx::Transaction<'static, <__sql_helpers::Row as sqlx::Row>::Database>,
                id: $crate::domain::InstallationId,
            ) -> $crate::StoreResult<$crate::domain::MeterId> {
                const T: &str = "installation_plans";
                let r = sqlx::query("SELECT meter_id, status FROM installation_plans WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(__sql_helpers::plain)?
                    .ok_or_else(|| $crate::StoreError::not_found("installation", id))?;
                let status: $crate::lifecycle::InstallationStatus = __sql_helpers::parsed(&r, T, "status")?;
                if status != $crate::lifecycle::InstallationStatus::Planned {
                    return Err($crate::StoreError::Conflict(format!(
                        "installation {id} is {status}, not planned"
                    )));
                }
                __sql_helpers::parsed(&r, T, "meter_id")
            }

            /// How many of one chunk of distinct meters exist, with their
            /// faults, field time (ms) and reporting days in the window.
            async fn __group_chunk(
                &self,
                chunk: &[String],
                from_ms: i64,
                to_ms: i64,
                first_reading: Option<i64>,
            ) -> $crate::StoreResult<(u64, u64, i64, u64)> {
                use $crate::domain::lifecycle::DeviceState;
                const T: &str = "device_events";
                let count = |n: i64| u64::try_from(n).unwrap_or(0);

                let sql = format!(
                    "SELECT id, status, created_at_ms FROM meters WHERE id IN ({})",
                    __field_rows::marks(1, chunk.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for m in chunk {
                    q = q.bind(m.clone());
                }
                let meters = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;

                let sql = format!(
                    "SELECT COUNT(*) FROM device_events WHERE to_state = 'faulty' \
                     AND at_ms >= $1 AND at_ms < $2 AND meter_id IN ({})",
                    __field_rows::marks(3, chunk.len())
                );
                let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql)).bind(from_ms).bind(to_ms);
                for m in chunk {
                    q = q.bind(m.clone());
                }
                let faults = q.fetch_one(&self.pool).await.map_err(__sql_helpers::plain)?;

                // The whole history (a few rows a device): the state at the
                // window's start depends on the moves before it, and the
                // first move tells the state the device was registered in.
                let sql = format!(
                    "SELECT meter_id, from_state, to_state, at_ms FROM device_events \
                     WHERE meter_id IN ({}) ORDER BY meter_id, at_ms, id",
                    __field_rows::marks(1, chunk.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for m in chunk {
                    q = q.bind(m.clone());
                }
                let events = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;
                // Per meter: the state before its first move, and its moves.
                let mut history: std::collections::HashMap<String, (DeviceState, Vec<(DeviceState, i64)>)> =
                    std::collections::HashMap::new();
                for e in &events {
                    let meter: String = __sql_helpers::col(e, T, "meter_id")?;
                    let from: Option<DeviceState> = __sql_helpers::parsed_opt(e, T, "from_state")?;
                    let to: DeviceState = __sql_helpers::parsed(e, T, "to_state")?;
                    let at: i64 = __sql_helpers::col(e, T, "at_ms")?;
                    // A history that starts with the order (from no state)
                    // starts outside the field.
                    let (_, moves) = history
                        .entry(meter)
                        .or_insert_with(|| (from.unwrap_or(DeviceState::Ordered), Vec::new()));
                    if at < to_ms {
                        moves.push((to, at));
                    }
                }
                let mut field_ms = 0_i64;
                for m in &meters {
                    let id: String = __sql_helpers::col(m, "meters", "id")?;
                    let created: i64 = __sql_helpers::col(m, "meters", "created_at_ms")?;
                    field_ms += match history.get(&id) {
                        Some((initial, moves)) => {
                            __field_rows::field_ms(*initial, created, moves, from_ms, to_ms)
                        }
                        None => {
                            let status = __sql_helpers::parsed(m, "meters", "status")?;
                            __field_rows::field_ms(DeviceState::from_meter_status(status), created, &[], from_ms, to_ms)
                        }
                    };
                }

                let reporting = match first_reading {
                    None => 0,
                    Some(first) => {
                        let sql = format!(
                            "SELECT COUNT(*) FROM (SELECT DISTINCT meter_id, at_ms / {day} AS d FROM readings \
                             WHERE seq >= $1 AND at_ms >= $2 AND at_ms < $3 AND meter_id IN ({list})) x",
                            day = __field_rows::DAY_MS,
                            list = __field_rows::marks(4, chunk.len()),
                        );
                        let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
                            .bind(first)
                            .bind(from_ms)
                            .bind(to_ms);
                        for m in chunk {
                            q = q.bind(m.clone());
                        }
                        q.fetch_one(&self.pool).await.map_err(__sql_helpers::plain)?
                    }
                };
                Ok((
                    u64::try_from(meters.len()).unwrap_or(u64::MAX),
                    count(faults),
                    field_ms,
                    count(reporting),
                ))
            }
        }

        #[async_trait::async_trait]
        impl $crate::lifecycle::Field for $store {
            // --- certifications ---

            async fn add_certification(&self, c: &$crate::lifecycle::Certification) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO certifications (id, organisation_id, staff_user_id, utility, number, issued_on, \
                     expires_on, revoked_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(c.id.to_string())
                .bind(c.organisation_id.to_string())
                .bind(c.staff_user_id.to_string())
                .bind(c.utility.as_str())
                .bind(c.number.clone())
                .bind(c.issued_on.to_string())
                .bind(c.expires_on.to_string())
                .bind(c.revoked_at_ms)
                .bind(c.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("certification {} is already recorded", c.id),
                        &format!("organisation {} or staff user {} does not exist", c.organisation_id, c.staff_user_id),
                    )
                })?;
                Ok(())
            }

            async fn list_certifications(
                &self,
                org: $crate::domain::OrganisationId,
                staff: Option<$crate::domain::StaffUserId>,
            ) -> $crate::StoreResult<Vec<$crate::lifecycle::Certification>> {
                let cols = __field_rows::CERTIFICATION;
                let order = "ORDER BY staff_user_id, utility, expires_on DESC, id";
                let q = match staff {
                    Some(s) => sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {cols} FROM certifications WHERE organisation_id = $1 AND staff_user_id = $2 {order}"
                    )))
                    .bind(org.to_string())
                    .bind(s.to_string()),
                    None => sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {cols} FROM certifications WHERE organisation_id = $1 {order}"
                    )))
                    .bind(org.to_string()),
                };
                let rows = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;
                rows.iter().map(__field_rows::certification).collect()
            }

            async fn valid_certification(
                &self,
                staff: $crate::domain::StaffUserId,
                utility: $crate::domain::Utility,
                on: jiff::civil::Date,
            ) -> $crate::StoreResult<Option<$crate::lifecycle::Certification>> {
                // 'YYYY-MM-DD' text compares as the dates do.
                let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM certifications WHERE staff_user_id = $1 AND utility = $2 \
                     AND issued_on <= $3 AND expires_on >= $3 AND revoked_at_ms IS NULL \
                     ORDER BY expires_on DESC, id LIMIT 1",
                    __field_rows::CERTIFICATION
                )))
                .bind(staff.to_string())
                .bind(utility.as_str())
                .bind(on.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                r.as_ref().map(__field_rows::certification).transpose()
            }

            async fn revoke_certification(
                &self,
                id: $crate::domain::CertificationId,
                at_ms: i64,
            ) -> $crate::StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE certifications SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
                )
                .bind(id.to_string())
                .bind(at_ms)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                if done.rows_affected() > 0 {
                    return Ok(true);
                }
                let exists: Option<String> = sqlx::query_scalar("SELECT id FROM certifications WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                match exists {
                    Some(_) => Ok(false),
                    None => Err($crate::StoreError::not_found("certification", id)),
                }
            }

            // --- installation ---

            async fn create_installation(&self, p: &$crate::lifecycle::InstallationPlan) -> $crate::StoreResult<()> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                let planned: Option<(String, String)> = sqlx::query_as(
                    "SELECT m.serial, p.scheduled_on FROM installation_plans p JOIN meters m ON m.id = p.meter_id \
                     WHERE p.meter_id = $1 AND p.status = 'planned'",
                )
                .bind(p.meter_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(__sql_helpers::plain)?;
                if let Some((serial, on)) = planned {
                    return Err($crate::StoreError::Conflict(format!(
                        "meter {serial} already has an installation planned for {on}"
                    )));
                }
                // The plan carries its unit's site for scope checks: it
                // must be the unit's real one.
                let site: Option<String> = sqlx::query_scalar(
                    "SELECT b.site_id FROM units u JOIN buildings b ON b.id = u.building_id WHERE u.id = $1",
                )
                .bind(p.unit_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(__sql_helpers::plain)?;
                if site.as_deref() != Some(p.site_id.to_string().as_str()) {
                    return Err($crate::StoreError::Reference(format!(
                        "unit {} does not exist or is not at site {}",
                        p.unit_id, p.site_id
                    )));
                }
                sqlx::query(
                    "INSERT INTO installation_plans (id, organisation_id, meter_id, unit_id, site_id, account_id, \
                     tariff_code, scheduled_on, installer_id, status, checklist, opening_reading, note, created_by, \
                     created_at_ms, completed_by, completed_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                )
                .bind(p.id.to_string())
                .bind(p.organisation_id.to_string())
                .bind(p.meter_id.to_string())
                .bind(p.unit_id.to_string())
                .bind(p.site_id.to_string())
                .bind(p.account_id.map(|a| a.to_string()))
                .bind(p.tariff_code.clone())
                .bind(p.scheduled_on.to_string())
                .bind(p.installer_id.to_string())
                .bind(p.status.as_str())
                .bind(p.checklist.clone())
                .bind(p.opening_reading)
                .bind(p.note.clone())
                .bind(p.created_by.clone())
                .bind(p.created_at_ms)
                .bind(p.completed_by.clone())
                .bind(p.completed_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("installation {} exists, or meter {} already has a planned one", p.id, p.meter_id),
                        "the plan's organisation, meter, account or installer does not exist",
                    )
                })?;
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn get_installation(
                &self,
                id: $crate::domain::InstallationId,
            ) -> $crate::StoreResult<$crate::lifecycle::InstallationPlan> {
                let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM installation_plans WHERE id = $1",
                    __field_rows::PLAN
                )))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?
                .ok_or_else(|| $crate::StoreError::not_found("installation", id))?;
                __field_rows::plan(&r)
            }

            async fn list_installations(
                &self,
                org: $crate::domain::OrganisationId,
                filter: &$crate::lifecycle::InstallationFilter,
            ) -> $crate::StoreResult<Vec<$crate::lifecycle::InstallationPlan>> {
                // Only the filters given go into the SQL; every value is a bind.
                let mut binds: Vec<String> = vec![org.to_string()];
                let mut conds: Vec<String> = vec!["organisation_id = $1".into()];
                if let Some(s) = filter.status {
                    binds.push(s.as_str().to_owned());
                    conds.push(format!("status = ${}", binds.len()));
                }
                if let Some(i) = filter.installer {
                    binds.push(i.to_string());
                    conds.push(format!("installer_id = ${}", binds.len()));
                }
                if let Some(m) = filter.meter {
                    binds.push(m.to_string());
                    conds.push(format!("meter_id = ${}", binds.len()));
                }
                if let Some(sites) = &filter.sites {
                    if sites.is_empty() {
                        return Ok(Vec::new());
                    }
                    let list = __field_rows::marks(binds.len() + 1, sites.len());
                    binds.extend(sites.iter().map(|s| s.to_string()));
                    conds.push(format!("site_id IN ({list})"));
                }
                let sql = format!(
                    "SELECT {} FROM installation_plans WHERE {} ORDER BY scheduled_on, id LIMIT 1000",
                    __field_rows::PLAN,
                    conds.join(" AND ")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    q = q.bind(b);
                }
                let rows = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;
                rows.iter().map(__field_rows::plan).collect()
            }

            async fn record_checklist(
                &self,
                id: $crate::domain::InstallationId,
                checklist: &str,
            ) -> $crate::StoreResult<()> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                Self::__planned(&mut tx, id).await?;
                let done = sqlx::query(
                    "UPDATE installation_plans SET checklist = $2 WHERE id = $1 AND status = 'planned'",
                )
                .bind(id.to_string())
                .bind(checklist.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(__sql_helpers::plain)?;
                __field_rows::still_planned(done, id)?;
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn complete_installation(
                &self,
                id: $crate::domain::InstallationId,
                checklist: &str,
                opening_reading: i64,
                by: &str,
                at_ms: i64,
                t: &$crate::lifecycle::Transition,
            ) -> $crate::StoreResult<$crate::lifecycle::InstallationPlan> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                let meter = Self::__planned(&mut tx, id).await?;
                if meter != t.meter {
                    return Err($crate::StoreError::Reference(format!(
                        "installation {id} is for meter {meter}, the move for meter {}",
                        t.meter
                    )));
                }
                let done = sqlx::query(
                    "UPDATE installation_plans SET status = 'installed', checklist = $2, opening_reading = $3, \
                     completed_by = $4, completed_at_ms = $5 WHERE id = $1 AND status = 'planned'",
                )
                .bind(id.to_string())
                .bind(checklist.to_owned())
                .bind(opening_reading)
                .bind(by.to_owned())
                .bind(at_ms)
                .execute(&mut *tx)
                .await
                .map_err(__sql_helpers::plain)?;
                __field_rows::still_planned(done, id)?;
                Self::__apply_transition(&mut tx, t).await?;
                let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM installation_plans WHERE id = $1",
                    __field_rows::PLAN
                )))
                .bind(id.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(__sql_helpers::plain)?;
                let plan = __field_rows::plan(&r)?;
                tx.commit().await.map_err(__sql_helpers::plain)?;
                Ok(plan)
            }

            async fn cancel_installation(
                &self,
                id: $crate::domain::InstallationId,
                by: &str,
                at_ms: i64,
            ) -> $crate::StoreResult<()> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                Self::__planned(&mut tx, id).await?;
                // completed_by / completed_at_ms record who closed the
                // plan, whichever way it closed.
                let done = sqlx::query(
                    "UPDATE installation_plans SET status = 'cancelled', completed_by = $2, completed_at_ms = $3 \
                     WHERE id = $1 AND status = 'planned'",
                )
                .bind(id.to_string())
                .bind(by.to_owned())
                .bind(at_ms)
                .execute(&mut *tx)
                .await
                .map_err(__sql_helpers::plain)?;
                __field_rows::still_planned(done, id)?;
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            // --- commissioning ---

            async fn start_run(&self, run: &$crate::lifecycle::CommissioningRun) -> $crate::StoreResult<()> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                let running: Option<(String, String)> = sqlx::query_as(
                    "SELECT m.serial, r.started_by FROM commissioning_runs r JOIN meters m ON m.id = r.meter_id \
                     WHERE r.meter_id = $1 AND r.outcome = 'running'",
                )
                .bind(run.meter_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(__sql_helpers::plain)?;
                if let Some((serial, by)) = running {
                    return Err($crate::StoreError::Conflict(format!(
                        "meter {serial} is being commissioned already (run started by {by})"
                    )));
                }
                sqlx::query(
                    "INSERT INTO commissioning_runs (id, meter_id, outcome, steps, reason, started_by, started_at_ms, \
                     finished_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(run.id.clone())
                .bind(run.meter_id.to_string())
                .bind(run.outcome.as_str())
                .bind(run.steps.clone())
                .bind(run.reason.clone())
                .bind(run.started_by.clone())
                .bind(run.started_at_ms)
                .bind(run.finished_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("run {} exists, or meter {} is being commissioned already", run.id, run.meter_id),
                        &format!("meter {} does not exist", run.meter_id),
                    )
                })?;
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn finish_run(
                &self,
                id: &str,
                outcome: $crate::lifecycle::RunOutcome,
                steps: &str,
                reason: &str,
                at_ms: i64,
                moves: &[$crate::lifecycle::Transition],
            ) -> $crate::StoreResult<()> {
                use $crate::lifecycle::RunOutcome;
                if outcome == RunOutcome::Running {
                    return Err($crate::StoreError::Conflict(format!(
                        "run {id} can finish passed or failed, not running"
                    )));
                }
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                let current: String = sqlx::query_scalar("SELECT outcome FROM commissioning_runs WHERE id = $1")
                    .bind(id.to_owned())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(__sql_helpers::plain)?
                    .ok_or_else(|| $crate::StoreError::not_found("commissioning run", id))?;
                if current != RunOutcome::Running.as_str() {
                    return Err($crate::StoreError::Conflict(format!("run {id} has finished already ({current})")));
                }
                let done = sqlx::query(
                    "UPDATE commissioning_runs SET outcome = $2, steps = $3, reason = $4, finished_at_ms = $5 \
                     WHERE id = $1 AND outcome = 'running'",
                )
                .bind(id.to_owned())
                .bind(outcome.as_str())
                .bind(steps.to_owned())
                .bind(reason.to_owned())
                .bind(at_ms)
                .execute(&mut *tx)
                .await
                .map_err(__sql_helpers::plain)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::Conflict(format!("run {id} was finished meanwhile")));
                }
                for t in moves {
                    Self::__apply_transition(&mut tx, t).await?;
                }
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn get_run(&self, id: &str) -> $crate::StoreResult<$crate::lifecycle::CommissioningRun> {
                let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM commissioning_runs WHERE id = $1",
                    __field_rows::RUN
                )))
                .bind(id.to_owned())
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?
                .ok_or_else(|| $crate::StoreError::not_found("commissioning run", id))?;
                __field_rows::run(&r)
            }

            /// Newest first.
            async fn list_runs(
                &self,
                meter: $crate::domain::MeterId,
            ) -> $crate::StoreResult<Vec<$crate::lifecycle::CommissioningRun>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM commissioning_runs WHERE meter_id = $1 ORDER BY started_at_ms DESC, id DESC",
                    __field_rows::RUN
                )))
                .bind(meter.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter().map(__field_rows::run).collect()
            }

            // --- swap, replacement, retirement ---

            async fn record_swap(
                &self,
                s: &$crate::lifecycle::MeterSwap,
                moves: &[$crate::lifecycle::Transition],
            ) -> $crate::StoreResult<()> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO meter_swaps (id, organisation_id, old_meter_id, new_meter_id, account_id, unit_id, \
                     final_reading, opening_reading, final_charge_fen, rollout_id, actor, reason, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(s.id.clone())
                .bind(s.organisation_id.to_string())
                .bind(s.old_meter_id.to_string())
                .bind(s.new_meter_id.to_string())
                .bind(s.account_id.to_string())
                .bind(s.unit_id.to_string())
                .bind(s.final_reading)
                .bind(s.opening_reading)
                .bind(s.final_charge.0)
                .bind(s.rollout_id.map(|r| r.to_string()))
                .bind(s.actor.clone())
                .bind(s.reason.clone())
                .bind(s.at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("swap {} is already recorded", s.id),
                        "the swap's organisation, meters, account or unit do not exist",
                    )
                })?;
                for t in moves {
                    Self::__apply_transition(&mut tx, t).await?;
                }
                if let Some(rollout) = s.rollout_id {
                    let done = sqlx::query(
                        "UPDATE rollout_members SET new_meter_id = $3, swapped_at_ms = $4 \
                         WHERE rollout_id = $1 AND meter_id = $2",
                    )
                    .bind(rollout.to_string())
                    .bind(s.old_meter_id.to_string())
                    .bind(s.new_meter_id.to_string())
                    .bind(s.at_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(__sql_helpers::plain)?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::Reference(format!(
                            "meter {} is not a member of rollout {rollout}",
                            s.old_meter_id
                        )));
                    }
                }
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn swaps_of(&self, meter: $crate::domain::MeterId) -> $crate::StoreResult<Vec<$crate::lifecycle::MeterSwap>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM meter_swaps WHERE old_meter_id = $1 OR new_meter_id = $1 \
                     ORDER BY at_ms DESC, id DESC",
                    __field_rows::SWAP
                )))
                .bind(meter.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter().map(__field_rows::swap).collect()
            }

            async fn field_devices(
                &self,
                org: $crate::domain::OrganisationId,
                after: Option<$crate::domain::MeterId>,
                limit: u32,
                now_ms: i64,
            ) -> $crate::StoreResult<Vec<$crate::lifecycle::FieldDevice>> {
                const T: &str = "devices";
                // Walks (organisation_id, meter_id) in order and stops at
                // LIMIT; the per-device history counts use the history's
                // (meter_id, …) index, a handful of rows each.
                let sql = format!(
                    "SELECT d.meter_id AS meter_id, m.serial AS serial, m.utility AS utility, d.state AS state, \
                     d.model_id AS model_id, b.site_id AS site_id, d.accepted_on AS accepted_on, \
                     d.field_since_ms AS field_since_ms, d.state_since_ms AS state_since_ms, \
                     dm.service_life_years AS service_life_years, \
                     (SELECT MIN(e.at_ms) FROM device_events e WHERE e.meter_id = d.meter_id \
                      AND e.to_state = 'in_service') AS first_service_ms, \
                     (SELECT COUNT(*) FROM device_events e WHERE e.meter_id = d.meter_id \
                      AND e.to_state = 'faulty' AND e.at_ms >= $2 AND e.at_ms <= $3) AS faults_last_year \
                     FROM devices d JOIN meters m ON m.id = d.meter_id \
                     JOIN device_models dm ON dm.id = d.model_id \
                     LEFT JOIN units u ON u.id = m.unit_id LEFT JOIN buildings b ON b.id = u.building_id \
                     WHERE d.organisation_id = $1 AND d.meter_id > $4 AND d.state IN {} \
                     ORDER BY d.meter_id LIMIT $5",
                    __field_rows::IN_FIELD
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org.to_string())
                    .bind(now_ms - 365 * __field_rows::DAY_MS)
                    .bind(now_ms)
                    .bind(after.map(|a| a.to_string()).unwrap_or_default())
                    .bind(i64::from(limit.clamp(1, 1000)))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter()
                    .map(|r| {
                        let accepted: Option<jiff::civil::Date> = __sql_helpers::parsed_opt(r, T, "accepted_on")?;
                        let first_service: Option<i64> = __sql_helpers::col(r, T, "first_service_ms")?;
                        let field_since: Option<i64> = __sql_helpers::col(r, T, "field_since_ms")?;
                        let state_since: i64 = __sql_helpers::col(r, T, "state_since_ms")?;
                        // Its service life starts the day it was accepted;
                        // without acceptance data, when it first went into
                        // service: the first recorded move into service or,
                        // for a meter that was in service before it had a
                        // record, the start of its time in the field,
                        // whichever is earlier; failing both, when it
                        // entered its present state.
                        let life_start_ms = match accepted {
                            Some(day) => jiff::tz::TimeZone::UTC
                                .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
                                .map_err(|e| $crate::StoreError::Corrupt {
                                    table: T,
                                    reason: format!("accepted_on: {e}"),
                                })?
                                .as_millisecond(),
                            None => match (first_service, field_since) {
                                (Some(a), Some(b)) => a.min(b),
                                (Some(a), None) | (None, Some(a)) => a,
                                (None, None) => state_since,
                            },
                        };
                        Ok($crate::lifecycle::FieldDevice {
                            meter_id: __sql_helpers::parsed(r, T, "meter_id")?,
                            serial: __sql_helpers::col(r, T, "serial")?,
                            utility: __sql_helpers::parsed(r, T, "utility")?,
                            state: __sql_helpers::parsed(r, T, "state")?,
                            model_id: __sql_helpers::parsed(r, T, "model_id")?,
                            site_id: __sql_helpers::parsed_opt(r, T, "site_id")?,
                            life_start_ms,
                            service_life_years: __sql_helpers::small(r, T, "service_life_years")?,
                            faults_last_year: __sql_helpers::small(r, T, "faults_last_year")?,
                        })
                    })
                    .collect()
            }

            async fn model_fault_facts(
                &self,
                org: $crate::domain::OrganisationId,
                now_ms: i64,
            ) -> $crate::StoreResult<Vec<($crate::domain::DeviceModelId, u64, u64)>> {
                // Every model of the catalogue, with zeros when none of its
                // devices has been in the field. Field time: the stints
                // before (field_ms_before) plus the current one up to now.
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT dm.id, CAST(COALESCE(SUM(d.faults), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(d.field_ms_before + CASE WHEN d.field_since_ms IS NULL \
                     OR d.field_since_ms > $2 THEN 0 ELSE $2 - d.field_since_ms END), 0) AS BIGINT) \
                     FROM device_models dm LEFT JOIN devices d ON d.model_id = dm.id \
                     WHERE dm.organisation_id = $1 GROUP BY dm.id ORDER BY dm.id",
                )
                .bind(org.to_string())
                .bind(now_ms)
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.into_iter()
                    .map(|(id, faults, field_ms)| {
                        let id = id.parse().map_err(|e| $crate::StoreError::Corrupt {
                            table: "device_models",
                            reason: format!("id: {e}"),
                        })?;
                        Ok((
                            id,
                            u64::try_from(faults).unwrap_or(0),
                            u64::try_from(field_ms / __field_rows::DAY_MS).unwrap_or(0),
                        ))
                    })
                    .collect()
            }

            async fn site_coverage(
                &self,
                site: $crate::domain::SiteId,
            ) -> $crate::StoreResult<Vec<$crate::lifecycle::SiteCoverage>> {
                use $crate::domain::Utility;
                let exists: Option<String> = sqlx::query_scalar("SELECT id FROM sites WHERE id = $1")
                    .bind(site.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                if exists.is_none() {
                    return Err($crate::StoreError::not_found("site", site));
                }
                let units: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM units u JOIN buildings b ON b.id = u.building_id WHERE b.site_id = $1",
                )
                .bind(site.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let fitted: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT m.utility, COUNT(DISTINCT m.unit_id) FROM meters m \
                     JOIN units u ON u.id = m.unit_id JOIN buildings b ON b.id = u.building_id \
                     WHERE b.site_id = $1 AND m.status IN {} GROUP BY m.utility",
                    __field_rows::FITTED
                )))
                .bind(site.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let models: Vec<(String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT m.utility, d.model_id, COUNT(*) FROM meters m \
                     JOIN units u ON u.id = m.unit_id JOIN buildings b ON b.id = u.building_id \
                     JOIN devices d ON d.meter_id = m.id \
                     WHERE b.site_id = $1 AND m.status IN {} AND d.model_id IS NOT NULL \
                     GROUP BY m.utility, d.model_id",
                    __field_rows::FITTED
                )))
                .bind(site.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let count = |n: i64| u64::try_from(n).unwrap_or(0);
                Utility::ALL
                    .iter()
                    .map(|u| {
                        let with = fitted
                            .iter()
                            .find(|(x, _)| x == u.as_str())
                            .map_or(0, |(_, n)| count(*n));
                        // The most used model; on a tie the smallest id, so
                        // the answer does not change between calls.
                        let usual = models
                            .iter()
                            .filter(|(x, _, _)| x == u.as_str())
                            .min_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)))
                            .map(|(_, m, _)| {
                                m.parse().map_err(|e| $crate::StoreError::Corrupt {
                                    table: "devices",
                                    reason: format!("model_id: {e}"),
                                })
                            })
                            .transpose()?;
                        Ok($crate::lifecycle::SiteCoverage {
                            utility: *u,
                            units: count(units),
                            units_with_meter: with,
                            usual_model: usual,
                        })
                    })
                    .collect()
            }

            async fn create_rollout(
                &self,
                r: &$crate::lifecycle::Rollout,
                members: &[($crate::domain::MeterId, u32)],
            ) -> $crate::StoreResult<()> {
                let mut seen = std::collections::HashSet::new();
                if let Some((twice, _)) = members.iter().find(|(m, _)| !seen.insert(*m)) {
                    return Err($crate::StoreError::Conflict(format!(
                        "meter {twice} is listed twice in the rollout"
                    )));
                }
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                let taken: Option<String> =
                    sqlx::query_scalar("SELECT id FROM rollouts WHERE organisation_id = $1 AND name = $2")
                        .bind(r.organisation_id.to_string())
                        .bind(r.name.clone())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(__sql_helpers::plain)?;
                if taken.is_some() {
                    return Err($crate::StoreError::Conflict(format!(
                        "a rollout named '{}' exists already",
                        r.name
                    )));
                }
                sqlx::query(
                    "INSERT INTO rollouts (id, organisation_id, name, model_id, pilot_approved_by, \
                     pilot_approved_at_ms, created_by, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(r.id.to_string())
                .bind(r.organisation_id.to_string())
                .bind(r.name.clone())
                .bind(r.model_id.to_string())
                .bind(r.pilot_approved_by.clone())
                .bind(r.pilot_approved_at_ms)
                .bind(r.created_by.clone())
                .bind(r.created_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("rollout {} or a rollout named '{}' exists already", r.id, r.name),
                        &format!("organisation {} or model {} does not exist", r.organisation_id, r.model_id),
                    )
                })?;
                for chunk in members.chunks(__field_rows::CHUNK) {
                    let list = __field_rows::marks(2, chunk.len());
                    let sql = format!(
                        "SELECT m.serial, r.name FROM rollout_members rm JOIN meters m ON m.id = rm.meter_id \
                         JOIN rollouts r ON r.id = rm.rollout_id \
                         WHERE rm.rollout_id <> $1 AND rm.meter_id IN ({list}) ORDER BY m.serial LIMIT 1"
                    );
                    let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql)).bind(r.id.to_string());
                    for (m, _) in chunk {
                        q = q.bind(m.to_string());
                    }
                    if let Some((serial, other)) = q.fetch_optional(&mut *tx).await.map_err(__sql_helpers::plain)? {
                        return Err($crate::StoreError::Conflict(format!(
                            "meter {serial} is already in rollout '{other}'"
                        )));
                    }
                    let sql = format!("SELECT id FROM meters WHERE organisation_id = $1 AND id IN ({list})");
                    let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(r.organisation_id.to_string());
                    for (m, _) in chunk {
                        q = q.bind(m.to_string());
                    }
                    let found: std::collections::HashSet<String> =
                        q.fetch_all(&mut *tx).await.map_err(__sql_helpers::plain)?.into_iter().collect();
                    if let Some((missing, _)) = chunk.iter().find(|(m, _)| !found.contains(&m.to_string())) {
                        return Err($crate::StoreError::Reference(format!(
                            "meter {missing} is not a meter of this organisation"
                        )));
                    }
                    // One statement per chunk: a rollout of thousands of
                    // meters is a few round trips, not thousands.
                    let values = (0..chunk.len())
                        .map(|i| format!("($1, ${}, ${})", 2 * i + 2, 2 * i + 3))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let sql = format!("INSERT INTO rollout_members (rollout_id, meter_id, wave) VALUES {values}");
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(r.id.to_string());
                    for (m, wave) in chunk {
                        q = q.bind(m.to_string()).bind(i64::from(*wave));
                    }
                    q.execute(&mut *tx).await.map_err(|e| {
                        __sql_helpers::map_err(e, "a meter is already in a rollout", "a member meter does not exist")
                    })?;
                }
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn get_rollout(&self, id: $crate::domain::RolloutId) -> $crate::StoreResult<$crate::lifecycle::Rollout> {
                let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM rollouts WHERE id = $1",
                    __field_rows::ROLLOUT
                )))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?
                .ok_or_else(|| $crate::StoreError::not_found("rollout", id))?;
                __field_rows::rollout(&r)
            }

            /// Newest first.
            async fn list_rollouts(
                &self,
                org: $crate::domain::OrganisationId,
            ) -> $crate::StoreResult<Vec<$crate::lifecycle::Rollout>> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM rollouts WHERE organisation_id = $1 ORDER BY created_at_ms DESC, id DESC",
                    __field_rows::ROLLOUT
                )))
                .bind(org.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter().map(__field_rows::rollout).collect()
            }

            /// By wave, then serial.
            async fn rollout_members(
                &self,
                id: $crate::domain::RolloutId,
            ) -> $crate::StoreResult<Vec<$crate::lifecycle::RolloutMember>> {
                // Not found is an error; an empty rollout an empty list.
                self.get_rollout(id).await?;
                let rows = sqlx::query(
                    "SELECT rm.meter_id AS meter_id, m.serial AS serial, rm.wave AS wave, d.state AS state, \
                     m.status AS status, rm.new_meter_id AS new_meter_id, rm.swapped_at_ms AS swapped_at_ms \
                     FROM rollout_members rm JOIN meters m ON m.id = rm.meter_id \
                     LEFT JOIN devices d ON d.meter_id = rm.meter_id \
                     WHERE rm.rollout_id = $1 ORDER BY rm.wave, m.serial",
                )
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter().map(__field_rows::member).collect()
            }

            async fn rollout_of(
                &self,
                meter: $crate::domain::MeterId,
            ) -> $crate::StoreResult<Option<($crate::domain::RolloutId, u32)>> {
                const T: &str = "rollout_members";
                let r = sqlx::query("SELECT rollout_id, wave FROM rollout_members WHERE meter_id = $1")
                    .bind(meter.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                r.map(|r| Ok((__sql_helpers::parsed(&r, T, "rollout_id")?, __sql_helpers::small(&r, T, "wave")?)))
                    .transpose()
            }

            async fn approve_pilot(&self, id: $crate::domain::RolloutId, by: &str, at_ms: i64) -> $crate::StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE rollouts SET pilot_approved_by = $2, pilot_approved_at_ms = $3 \
                     WHERE id = $1 AND pilot_approved_at_ms IS NULL",
                )
                .bind(id.to_string())
                .bind(by.to_owned())
                .bind(at_ms)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                if done.rows_affected() > 0 {
                    return Ok(true);
                }
                self.get_rollout(id).await?;
                Ok(false)
            }

            async fn group_facts(
                &self,
                meters: &[$crate::domain::MeterId],
                from_ms: i64,
                to_ms: i64,
            ) -> $crate::StoreResult<$crate::lifecycle::GroupFactsRow> {
                let mut ids: Vec<String> = meters.iter().map(|m| m.to_string()).collect();
                ids.sort();
                ids.dedup();
                let mut facts = $crate::lifecycle::GroupFactsRow::default();
                if ids.is_empty() || to_ms <= from_ms {
                    return Ok(facts);
                }
                // Readings have no index but their sequence, which grows
                // with arrival time: start at the first one that arrived
                // within a day before the window (a reading arrives after
                // it is taken; a day covers a meter clock running ahead).
                let first_reading = self
                    .__first_key_at("readings", "seq", "received_ms", from_ms - __field_rows::DAY_MS)
                    .await?;
                let mut field_ms = 0_i64;
                for chunk in ids.chunks(__field_rows::CHUNK) {
                    let (devices, faults, ms, reporting) =
                        self.__group_chunk(chunk, from_ms, to_ms, first_reading).await?;
                    facts.devices += devices;
                    facts.faults += faults;
                    field_ms += ms;
                    facts.reporting_days += reporting;
                }
                facts.device_days = u64::try_from(field_ms / __field_rows::DAY_MS).unwrap_or(0);
                Ok(facts)
            }

            async fn record_disposal(
                &self,
                d: &$crate::lifecycle::Disposal,
                t: &$crate::lifecycle::Transition,
            ) -> $crate::StoreResult<()> {
                if d.meter_id != t.meter {
                    return Err($crate::StoreError::Reference(format!(
                        "the disposal is of meter {}, the move of meter {}",
                        d.meter_id, t.meter
                    )));
                }
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                // The move first: a device not in `t.from` is refused with
                // the state it is in, before anything is written.
                Self::__apply_transition(&mut tx, t).await?;
                sqlx::query(
                    "INSERT INTO disposals (meter_id, method, reason, record, disposed_by, disposed_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(d.meter_id.to_string())
                .bind(d.method.clone())
                .bind(d.reason.clone())
                .bind(d.record.clone())
                .bind(d.disposed_by.clone())
                .bind(d.disposed_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("meter {} has a disposal record already", d.meter_id),
                        &format!("meter {} does not exist", d.meter_id),
                    )
                })?;
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn disposal(&self, meter: $crate::domain::MeterId) -> $crate::StoreResult<Option<$crate::lifecycle::Disposal>> {
                let r = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM disposals WHERE meter_id = $1",
                    __field_rows::DISPOSAL
                )))
                .bind(meter.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                r.as_ref().map(__field_rows::disposal).transpose()
            }
        }
    };
}
