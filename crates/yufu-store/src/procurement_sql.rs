//! The SQL implementation of [`Procurement`](crate::lifecycle::Procurement),
//! written once and expanded by each backend crate next to
//! `impl_sql_store!` (whose `__sql_helpers` module it reuses). It also
//! provides `__apply_transition`, the one place a device's state moves,
//! which `impl_sql_field!` calls too.

/// Expands `impl Procurement for $store`, see the module docs.
#[macro_export]
macro_rules! impl_sql_procurement {
    ($store:ty) => {
        impl $store {
            /// Moves a device inside `tx`: creates the lifecycle record of an
            /// untracked meter from its `meters.status`, refuses (Conflict)
            /// when the device is not in `t.from`, keeps the time in the
            /// field and the fault count, projects the state onto
            /// `meters.status`, and appends the history row.
            async fn __apply_transition(
                tx: &mut sqlx::Transaction<'static, <__sql_helpers::Row as sqlx::Row>::Database>,
                t: &$crate::lifecycle::Transition,
            ) -> $crate::StoreResult<()> {
                use $crate::domain::lifecycle::DeviceState;
                const T: &str = "devices";
                let meter = sqlx::query(
                    "SELECT m.organisation_id AS organisation_id, m.serial AS serial, m.status AS status, \
                     m.created_at_ms AS created_at_ms, d.state AS state, d.field_since_ms AS field_since_ms, \
                     d.field_ms_before AS field_ms_before \
                     FROM meters m LEFT JOIN devices d ON d.meter_id = m.id WHERE m.id = $1",
                )
                .bind(t.meter.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(__sql_helpers::plain)?
                .ok_or_else(|| $crate::StoreError::not_found("meter", t.meter))?;
                let serial: String = __sql_helpers::col(&meter, T, "serial")?;
                let tracked: Option<String> = __sql_helpers::col(&meter, T, "state")?;
                let (current, field_since, field_before) = match tracked {
                    Some(state) => {
                        let state: DeviceState = state.parse().map_err(|e| $crate::StoreError::Corrupt {
                            table: T,
                            reason: format!("state: {e}"),
                        })?;
                        let since: Option<i64> = __sql_helpers::col(&meter, T, "field_since_ms")?;
                        let before: i64 = __sql_helpers::col(&meter, T, "field_ms_before")?;
                        (state, since, before)
                    }
                    None => {
                        let status: $crate::domain::MeterStatus =
                            __sql_helpers::parsed(&meter, "meters", "status")?;
                        let state = DeviceState::from_meter_status(status);
                        let created: i64 = __sql_helpers::col(&meter, "meters", "created_at_ms")?;
                        // Registered before lifecycle records: in the field
                        // since it was registered, as far as we know.
                        let since = state.in_field().then_some(created);
                        let org: String = __sql_helpers::col(&meter, "meters", "organisation_id")?;
                        sqlx::query(
                            "INSERT INTO devices (meter_id, organisation_id, state, state_since_ms, field_since_ms, \
                             field_ms_before, faults) VALUES ($1, $2, $3, $4, $5, 0, 0)",
                        )
                        .bind(t.meter.to_string())
                        .bind(org)
                        .bind(state.as_str())
                        .bind(created)
                        .bind(since)
                        .execute(&mut **tx)
                        .await
                        .map_err(__sql_helpers::plain)?;
                        (state, since, 0)
                    }
                };
                if current != t.from {
                    return Err($crate::StoreError::Conflict(format!(
                        "device {serial} is {current}, not {}: it was moved meanwhile; reload and try again",
                        t.from
                    )));
                }
                let (since, before) = match (current.in_field(), t.to.in_field()) {
                    (true, false) => (
                        None,
                        field_before + field_since.map_or(0, |s| (t.at_ms - s).max(0)),
                    ),
                    (false, true) => (Some(t.at_ms), field_before),
                    _ => (field_since, field_before),
                };
                let fault = i64::from(t.to == DeviceState::Faulty);
                sqlx::query(
                    "UPDATE devices SET state = $2, state_since_ms = $3, field_since_ms = $4, \
                     field_ms_before = $5, faults = faults + $6 WHERE meter_id = $1",
                )
                .bind(t.meter.to_string())
                .bind(t.to.as_str())
                .bind(t.at_ms)
                .bind(since)
                .bind(before)
                .bind(fault)
                .execute(&mut **tx)
                .await
                .map_err(__sql_helpers::plain)?;
                sqlx::query("UPDATE meters SET status = $2 WHERE id = $1")
                    .bind(t.meter.to_string())
                    .bind(t.to.meter_status().as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(__sql_helpers::plain)?;
                Self::__history_row(tx, t.meter, Some(t.from), t.to, t.action.as_str(), &t.actor, &t.reason, &t.detail, t.at_ms)
                    .await
            }

            /// Appends one history row.
            #[allow(clippy::too_many_arguments)]
            async fn __history_row(
                tx: &mut sqlx::Transaction<'static, <__sql_helpers::Row as sqlx::Row>::Database>,
                meter: $crate::domain::MeterId,
                from: Option<$crate::domain::lifecycle::DeviceState>,
                to: $crate::domain::lifecycle::DeviceState,
                action: &str,
                actor: &str,
                reason: &str,
                detail: &str,
                at_ms: i64,
            ) -> $crate::StoreResult<()> {
                // UUIDv7: time-ordered, so history by id is history by time.
                let id = $crate::__uuid::Uuid::now_v7().to_string();
                sqlx::query(
                    "INSERT INTO device_events (id, meter_id, from_state, to_state, action, actor, reason, detail, at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id)
                .bind(meter.to_string())
                .bind(from.map(|s| s.as_str()))
                .bind(to.as_str())
                .bind(action.to_owned())
                .bind(actor.to_owned())
                .bind(reason.to_owned())
                .bind(detail.to_owned())
                .bind(at_ms)
                .execute(&mut **tx)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(())
            }
        }

        impl $store {
            fn __model_row(r: &__sql_helpers::Row) -> $crate::StoreResult<$crate::lifecycle::DeviceModel> {
                const T: &str = "device_models";
                let features: String = __sql_helpers::col(r, T, "features")?;
                Ok($crate::lifecycle::DeviceModel {
                    id: __sql_helpers::parsed(r, T, "id")?,
                    organisation_id: __sql_helpers::parsed(r, T, "organisation_id")?,
                    maker: __sql_helpers::col(r, T, "maker")?,
                    model: __sql_helpers::col(r, T, "model")?,
                    utility: __sql_helpers::parsed(r, T, "utility")?,
                    protocol: __sql_helpers::parsed(r, T, "protocol")?,
                    phases: __sql_helpers::small(r, T, "phases")?,
                    accuracy_class: __sql_helpers::col(r, T, "accuracy_class")?,
                    service_life_years: __sql_helpers::small(r, T, "service_life_years")?,
                    features: features.split_whitespace().map(str::to_owned).collect(),
                    list_price: $crate::domain::Fen(__sql_helpers::col(r, T, "list_price_fen")?),
                    created_at_ms: __sql_helpers::col(r, T, "created_at_ms")?,
                })
            }

            fn __supplier_row(r: &__sql_helpers::Row) -> $crate::StoreResult<$crate::lifecycle::Supplier> {
                const T: &str = "suppliers";
                Ok($crate::lifecycle::Supplier {
                    id: __sql_helpers::parsed(r, T, "id")?,
                    organisation_id: __sql_helpers::parsed(r, T, "organisation_id")?,
                    name: __sql_helpers::col(r, T, "name")?,
                    contact_name: __sql_helpers::col(r, T, "contact_name")?,
                    contact_phone: __sql_helpers::col(r, T, "contact_phone")?,
                    address: __sql_helpers::col(r, T, "address")?,
                    created_at_ms: __sql_helpers::col(r, T, "created_at_ms")?,
                })
            }

            fn __contract_row(
                r: &__sql_helpers::Row,
                lines: Vec<$crate::lifecycle::ContractLine>,
            ) -> $crate::StoreResult<$crate::lifecycle::Contract> {
                const T: &str = "contracts";
                Ok($crate::lifecycle::Contract {
                    id: __sql_helpers::parsed(r, T, "id")?,
                    organisation_id: __sql_helpers::parsed(r, T, "organisation_id")?,
                    number: __sql_helpers::col(r, T, "number")?,
                    supplier_id: __sql_helpers::parsed(r, T, "supplier_id")?,
                    status: __sql_helpers::parsed(r, T, "status")?,
                    transport: $crate::domain::Fen(__sql_helpers::col(r, T, "transport_fen")?),
                    installation: $crate::domain::Fen(__sql_helpers::col(r, T, "installation_fen")?),
                    commissioning: $crate::domain::Fen(__sql_helpers::col(r, T, "commissioning_fen")?),
                    warranty_months: __sql_helpers::small(r, T, "warranty_months")?,
                    after_sales: __sql_helpers::col(r, T, "after_sales")?,
                    created_by: __sql_helpers::col(r, T, "created_by")?,
                    created_by_role: __sql_helpers::col(r, T, "created_by_role")?,
                    created_at_ms: __sql_helpers::col(r, T, "created_at_ms")?,
                    approved_by: __sql_helpers::col(r, T, "approved_by")?,
                    approved_at_ms: __sql_helpers::col(r, T, "approved_at_ms")?,
                    lines,
                })
            }

            async fn __contract_lines(&self, id: &str) -> $crate::StoreResult<Vec<$crate::lifecycle::ContractLine>> {
                const T: &str = "contract_lines";
                let rows = sqlx::query(
                    "SELECT line_no, model_id, quantity, unit_price_fen, delivery_due FROM contract_lines \
                     WHERE contract_id = $1 ORDER BY line_no",
                )
                .bind(id.to_owned())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::lifecycle::ContractLine {
                            line_no: __sql_helpers::small(r, T, "line_no")?,
                            model_id: __sql_helpers::parsed(r, T, "model_id")?,
                            quantity: __sql_helpers::small(r, T, "quantity")?,
                            unit_price: $crate::domain::Fen(__sql_helpers::col(r, T, "unit_price_fen")?),
                            delivery_due: __sql_helpers::parsed(r, T, "delivery_due")?,
                        })
                    })
                    .collect()
            }

            fn __delivery_row(r: &__sql_helpers::Row) -> $crate::StoreResult<$crate::lifecycle::Delivery> {
                const T: &str = "deliveries";
                Ok($crate::lifecycle::Delivery {
                    id: __sql_helpers::parsed(r, T, "id")?,
                    contract_id: __sql_helpers::parsed(r, T, "contract_id")?,
                    note_number: __sql_helpers::col(r, T, "note_number")?,
                    delivered_on: __sql_helpers::parsed(r, T, "delivered_on")?,
                    received_by: __sql_helpers::col(r, T, "received_by")?,
                    created_at_ms: __sql_helpers::col(r, T, "created_at_ms")?,
                })
            }

            fn __device_row(r: &__sql_helpers::Row, now_ms: i64) -> $crate::StoreResult<$crate::lifecycle::DeviceRecord> {
                use $crate::domain::lifecycle::DeviceState;
                const T: &str = "devices";
                let state: Option<String> = __sql_helpers::col(r, T, "state")?;
                let tracked = state.is_some();
                let state = match state {
                    Some(s) => s.parse().map_err(|e| $crate::StoreError::Corrupt { table: T, reason: format!("state: {e}") })?,
                    None => DeviceState::from_meter_status(__sql_helpers::parsed(r, "meters", "status")?),
                };
                let since: Option<i64> = __sql_helpers::col(r, T, "field_since_ms")?;
                let before: Option<i64> = __sql_helpers::col(r, T, "field_ms_before")?;
                let field_ms = before.unwrap_or(0) + since.map_or(0, |s| (now_ms - s).max(0));
                let faults: Option<i64> = __sql_helpers::col(r, T, "faults")?;
                let line_no: Option<i64> = __sql_helpers::col(r, T, "line_no")?;
                Ok($crate::lifecycle::DeviceRecord {
                    meter_id: __sql_helpers::parsed(r, T, "id")?,
                    organisation_id: __sql_helpers::parsed(r, T, "organisation_id")?,
                    serial: __sql_helpers::col(r, T, "serial")?,
                    utility: __sql_helpers::parsed(r, T, "utility")?,
                    protocol: __sql_helpers::parsed(r, T, "protocol")?,
                    comm_address: __sql_helpers::col(r, T, "comm_address")?,
                    model_name: __sql_helpers::col(r, T, "model")?,
                    state,
                    state_since_ms: __sql_helpers::col(r, T, "state_since_ms")?,
                    model_id: __sql_helpers::parsed_opt(r, T, "model_id")?,
                    contract_id: __sql_helpers::parsed_opt(r, T, "contract_id")?,
                    line_no: line_no.and_then(|n| u32::try_from(n).ok()),
                    delivery_id: __sql_helpers::parsed_opt(r, T, "delivery_id")?,
                    delivered_on: __sql_helpers::parsed_opt(r, T, "delivered_on")?,
                    accepted_on: __sql_helpers::parsed_opt(r, T, "accepted_on")?,
                    warranty_ends_on: __sql_helpers::parsed_opt(r, T, "warranty_ends_on")?,
                    unit_id: __sql_helpers::parsed_opt(r, T, "unit_id")?,
                    account_id: __sql_helpers::parsed_opt(r, T, "account_id")?,
                    site_id: __sql_helpers::parsed_opt(r, T, "site_id")?,
                    faults: faults.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
                    field_days: u64::try_from(field_ms / 86_400_000).unwrap_or(0),
                    tracked,
                })
            }
        }

        const __DEVICE_SELECT: &str = "SELECT m.id AS id, m.organisation_id AS organisation_id, m.serial AS serial, \
             m.utility AS utility, m.protocol AS protocol, m.comm_address AS comm_address, m.model AS model, \
             m.status AS status, m.unit_id AS unit_id, m.account_id AS account_id, b.site_id AS site_id, \
             d.state AS state, d.state_since_ms AS state_since_ms, d.model_id AS model_id, d.contract_id AS contract_id, \
             d.line_no AS line_no, d.delivery_id AS delivery_id, d.delivered_on AS delivered_on, \
             d.accepted_on AS accepted_on, d.warranty_ends_on AS warranty_ends_on, d.field_since_ms AS field_since_ms, \
             d.field_ms_before AS field_ms_before, d.faults AS faults \
             FROM meters m LEFT JOIN devices d ON d.meter_id = m.id \
             LEFT JOIN units u ON u.id = m.unit_id LEFT JOIN buildings b ON b.id = u.building_id";

        #[async_trait::async_trait]
        impl $crate::lifecycle::Procurement for $store {
            async fn create_model(&self, m: &$crate::lifecycle::DeviceModel) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO device_models (id, organisation_id, maker, model, utility, protocol, phases, \
                     accuracy_class, service_life_years, features, list_price_fen, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(m.id.to_string())
                .bind(m.organisation_id.to_string())
                .bind(m.maker.clone())
                .bind(m.model.clone())
                .bind(m.utility.as_str())
                .bind(m.protocol.as_str())
                .bind(i64::from(m.phases))
                .bind(m.accuracy_class.clone())
                .bind(i64::from(m.service_life_years))
                .bind(m.features.join(" "))
                .bind(m.list_price.0)
                .bind(m.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("the catalogue already has {} {}", m.maker, m.model),
                        &format!("organisation {} does not exist", m.organisation_id),
                    )
                })?;
                Ok(())
            }

            async fn get_model(&self, id: $crate::domain::DeviceModelId) -> $crate::StoreResult<$crate::lifecycle::DeviceModel> {
                let r = sqlx::query("SELECT * FROM device_models WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?
                    .ok_or_else(|| $crate::StoreError::not_found("device model", id))?;
                Self::__model_row(&r)
            }

            async fn list_models(&self, org: $crate::domain::OrganisationId) -> $crate::StoreResult<Vec<$crate::lifecycle::DeviceModel>> {
                let rows = sqlx::query("SELECT * FROM device_models WHERE organisation_id = $1 ORDER BY maker, model")
                    .bind(org.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(Self::__model_row).collect()
            }

            async fn create_supplier(&self, s: &$crate::lifecycle::Supplier) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO suppliers (id, organisation_id, name, contact_name, contact_phone, address, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(s.id.to_string())
                .bind(s.organisation_id.to_string())
                .bind(s.name.clone())
                .bind(s.contact_name.clone())
                .bind(s.contact_phone.clone())
                .bind(s.address.clone())
                .bind(s.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("a supplier named '{}' already exists", s.name),
                        &format!("organisation {} does not exist", s.organisation_id),
                    )
                })?;
                Ok(())
            }

            async fn get_supplier(&self, id: $crate::domain::SupplierId) -> $crate::StoreResult<$crate::lifecycle::Supplier> {
                let r = sqlx::query("SELECT * FROM suppliers WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?
                    .ok_or_else(|| $crate::StoreError::not_found("supplier", id))?;
                Self::__supplier_row(&r)
            }

            async fn list_suppliers(&self, org: $crate::domain::OrganisationId) -> $crate::StoreResult<Vec<$crate::lifecycle::Supplier>> {
                let rows = sqlx::query("SELECT * FROM suppliers WHERE organisation_id = $1 ORDER BY name")
                    .bind(org.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(Self::__supplier_row).collect()
            }

            async fn add_qualification(&self, q: &$crate::lifecycle::Qualification) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO supplier_qualifications (id, supplier_id, name, number, expires_on, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(q.id.clone())
                .bind(q.supplier_id.to_string())
                .bind(q.name.clone())
                .bind(q.number.clone())
                .bind(q.expires_on.to_string())
                .bind(q.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(e, "qualification already recorded", &format!("supplier {} does not exist", q.supplier_id))
                })?;
                Ok(())
            }

            async fn qualifications(&self, supplier: $crate::domain::SupplierId) -> $crate::StoreResult<Vec<$crate::lifecycle::Qualification>> {
                const T: &str = "supplier_qualifications";
                let rows = sqlx::query("SELECT * FROM supplier_qualifications WHERE supplier_id = $1 ORDER BY expires_on, id")
                    .bind(supplier.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::lifecycle::Qualification {
                            id: __sql_helpers::col(r, T, "id")?,
                            supplier_id: __sql_helpers::parsed(r, T, "supplier_id")?,
                            name: __sql_helpers::col(r, T, "name")?,
                            number: __sql_helpers::col(r, T, "number")?,
                            expires_on: __sql_helpers::parsed(r, T, "expires_on")?,
                            created_at_ms: __sql_helpers::col(r, T, "created_at_ms")?,
                        })
                    })
                    .collect()
            }

            async fn supplier_facts(
                &self,
                supplier: $crate::domain::SupplierId,
                now_ms: i64,
            ) -> $crate::StoreResult<$crate::lifecycle::SupplierFactsRow> {
                let checks: (i64, i64) = sqlx::query_as(
                    "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(CASE WHEN a.passed THEN 1 ELSE 0 END), 0) AS BIGINT) \
                     FROM acceptance_checks a JOIN devices d ON d.meter_id = a.meter_id \
                     JOIN contracts c ON c.id = d.contract_id WHERE c.supplier_id = $1",
                )
                .bind(supplier.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let delivered: (i64, i64) = sqlx::query_as(
                    "SELECT CAST(COUNT(*) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN d.delivered_on <= l.delivery_due THEN 1 ELSE 0 END), 0) AS BIGINT) \
                     FROM devices d JOIN contracts c ON c.id = d.contract_id \
                     JOIN contract_lines l ON l.contract_id = d.contract_id AND l.line_no = d.line_no \
                     WHERE c.supplier_id = $1 AND d.delivered_on IS NOT NULL",
                )
                .bind(supplier.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let field: (i64, i64) = sqlx::query_as(
                    "SELECT CAST(COALESCE(SUM(d.faults), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(d.field_ms_before + CASE WHEN d.field_since_ms IS NULL THEN 0 \
                     WHEN d.field_since_ms > $2 THEN 0 ELSE $2 - d.field_since_ms END), 0) AS BIGINT) \
                     FROM devices d JOIN contracts c ON c.id = d.contract_id WHERE c.supplier_id = $1",
                )
                .bind(supplier.to_string())
                .bind(now_ms)
                .fetch_one(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let n = |v: i64| u64::try_from(v).unwrap_or(0);
                Ok($crate::lifecycle::SupplierFactsRow {
                    checked: n(checks.0),
                    passed: n(checks.1),
                    delivered: n(delivered.0),
                    delivered_on_time: n(delivered.1),
                    field_faults: n(field.0),
                    device_days: n(field.1 / 86_400_000),
                })
            }

            async fn create_contract(&self, c: &$crate::lifecycle::Contract) -> $crate::StoreResult<()> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                sqlx::query(
                    "INSERT INTO contracts (id, organisation_id, number, supplier_id, status, transport_fen, \
                     installation_fen, commissioning_fen, warranty_months, after_sales, created_by, created_by_role, \
                     created_at_ms, approved_by, approved_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL, NULL)",
                )
                .bind(c.id.to_string())
                .bind(c.organisation_id.to_string())
                .bind(c.number.clone())
                .bind(c.supplier_id.to_string())
                .bind(c.status.as_str())
                .bind(c.transport.0)
                .bind(c.installation.0)
                .bind(c.commissioning.0)
                .bind(i64::from(c.warranty_months))
                .bind(c.after_sales.clone())
                .bind(c.created_by.clone())
                .bind(c.created_by_role.clone())
                .bind(c.created_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("contract number '{}' is already used", c.number),
                        &format!("supplier {} does not exist", c.supplier_id),
                    )
                })?;
                for l in &c.lines {
                    sqlx::query(
                        "INSERT INTO contract_lines (contract_id, line_no, model_id, quantity, unit_price_fen, delivery_due) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(c.id.to_string())
                    .bind(i64::from(l.line_no))
                    .bind(l.model_id.to_string())
                    .bind(i64::from(l.quantity))
                    .bind(l.unit_price.0)
                    .bind(l.delivery_due.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        __sql_helpers::map_err(
                            e,
                            &format!("line {} appears twice", l.line_no),
                            &format!("line {}: device model {} does not exist", l.line_no, l.model_id),
                        )
                    })?;
                }
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn get_contract(&self, id: $crate::domain::ContractId) -> $crate::StoreResult<$crate::lifecycle::Contract> {
                let r = sqlx::query("SELECT * FROM contracts WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?
                    .ok_or_else(|| $crate::StoreError::not_found("contract", id))?;
                let lines = self.__contract_lines(&id.to_string()).await?;
                Self::__contract_row(&r, lines)
            }

            async fn list_contracts(&self, org: $crate::domain::OrganisationId) -> $crate::StoreResult<Vec<$crate::lifecycle::Contract>> {
                let rows = sqlx::query("SELECT * FROM contracts WHERE organisation_id = $1 ORDER BY created_at_ms DESC, id DESC")
                    .bind(org.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let id: String = __sql_helpers::col(r, "contracts", "id")?;
                    let lines = self.__contract_lines(&id).await?;
                    out.push(Self::__contract_row(r, lines)?);
                }
                Ok(out)
            }

            async fn set_contract_status(
                &self,
                id: $crate::domain::ContractId,
                to: $crate::lifecycle::ContractStatus,
                by: &str,
                at_ms: i64,
            ) -> $crate::StoreResult<$crate::lifecycle::Contract> {
                let approved = to == $crate::lifecycle::ContractStatus::Approved;
                let done = sqlx::query(
                    "UPDATE contracts SET status = $2, approved_by = $3, approved_at_ms = $4 \
                     WHERE id = $1 AND status = 'draft'",
                )
                .bind(id.to_string())
                .bind(to.as_str())
                .bind(approved.then(|| by.to_owned()))
                .bind(approved.then_some(at_ms))
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let c = self.get_contract(id).await?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::Conflict(format!(
                        "contract {} is {}, not a draft",
                        c.number, c.status
                    )));
                }
                Ok(c)
            }

            async fn contract_progress(&self, id: $crate::domain::ContractId) -> $crate::StoreResult<Vec<$crate::lifecycle::LineProgress>> {
                const T: &str = "devices";
                let rows = sqlx::query(
                    "SELECT line_no, state, CAST(COUNT(*) AS BIGINT) AS n FROM devices WHERE contract_id = $1 \
                     GROUP BY line_no, state ORDER BY line_no, state",
                )
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::lifecycle::LineProgress {
                            line_no: __sql_helpers::small(r, T, "line_no")?,
                            state: __sql_helpers::parsed(r, T, "state")?,
                            devices: __sql_helpers::small(r, T, "n")?,
                        })
                    })
                    .collect()
            }

            async fn create_delivery(&self, d: &$crate::lifecycle::Delivery) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO deliveries (id, contract_id, note_number, delivered_on, received_by, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(d.id.to_string())
                .bind(d.contract_id.to_string())
                .bind(d.note_number.clone())
                .bind(d.delivered_on.to_string())
                .bind(d.received_by.clone())
                .bind(d.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("delivery note '{}' is already recorded for this contract", d.note_number),
                        &format!("contract {} does not exist", d.contract_id),
                    )
                })?;
                Ok(())
            }

            async fn get_delivery(&self, id: $crate::domain::DeliveryId) -> $crate::StoreResult<$crate::lifecycle::Delivery> {
                let r = sqlx::query("SELECT * FROM deliveries WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?
                    .ok_or_else(|| $crate::StoreError::not_found("delivery", id))?;
                Self::__delivery_row(&r)
            }

            async fn list_deliveries(&self, contract: $crate::domain::ContractId) -> $crate::StoreResult<Vec<$crate::lifecycle::Delivery>> {
                let rows = sqlx::query("SELECT * FROM deliveries WHERE contract_id = $1 ORDER BY delivered_on, id")
                    .bind(contract.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(Self::__delivery_row).collect()
            }

            async fn existing_serials(
                &self,
                org: $crate::domain::OrganisationId,
                serials: &[String],
            ) -> $crate::StoreResult<Vec<String>> {
                let mut found = Vec::new();
                for chunk in serials.chunks(400) {
                    let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
                    let sql = format!(
                        "SELECT serial FROM meters WHERE organisation_id = $1 AND serial IN ({})",
                        marks.join(", ")
                    );
                    let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(org.to_string());
                    for s in chunk {
                        q = q.bind(s.clone());
                    }
                    found.extend(q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?);
                }
                found.sort();
                Ok(found)
            }

            async fn receive_devices(
                &self,
                delivery: &$crate::lifecycle::Delivery,
                org: $crate::domain::OrganisationId,
                devices: &[$crate::lifecycle::NewDevice],
                actor: &str,
                at_ms: i64,
            ) -> $crate::StoreResult<Vec<$crate::domain::MeterId>> {
                use $crate::domain::lifecycle::DeviceState;
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                // A no-op write on the contract's row: on PostgreSQL it
                // locks the row, so two imports against one contract take
                // turns and cannot both fill the last places of a line
                // (SQLite's write transaction is exclusive already).
                sqlx::query("UPDATE contracts SET status = status WHERE id = $1")
                    .bind(delivery.contract_id.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(__sql_helpers::plain)?;
                let mut per_line: std::collections::BTreeMap<u32, i64> = std::collections::BTreeMap::new();
                for d in devices {
                    *per_line.entry(d.line_no).or_default() += 1;
                }
                for (line, bringing) in &per_line {
                    let (quantity, delivered): (Option<i64>, i64) = sqlx::query_as(
                        "SELECT (SELECT quantity FROM contract_lines WHERE contract_id = $1 AND line_no = $2), \
                         CAST(COUNT(*) AS BIGINT) FROM devices WHERE contract_id = $1 AND line_no = $2 \
                         AND state NOT IN ('rejected', 'returned')",
                    )
                    .bind(delivery.contract_id.to_string())
                    .bind(i64::from(*line))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(__sql_helpers::plain)?;
                    let Some(quantity) = quantity else {
                        return Err($crate::StoreError::Reference(format!("the contract has no line {line}")));
                    };
                    if delivered + bringing > quantity {
                        return Err($crate::StoreError::Conflict(format!(
                            "line {line}: {} devices left to deliver, this import brings {bringing}",
                            (quantity - delivered).max(0)
                        )));
                    }
                }
                let mut ids = Vec::with_capacity(devices.len());
                for d in devices {
                    let id = $crate::domain::MeterId::new();
                    sqlx::query(
                        "INSERT INTO meters (id, organisation_id, serial, utility, model, protocol, comm_address, \
                         multiplier, status, unit_id, account_id, created_at_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 'in_stock', NULL, NULL, $8)",
                    )
                    .bind(id.to_string())
                    .bind(org.to_string())
                    .bind(d.serial.as_str())
                    .bind(d.model.utility.as_str())
                    .bind(d.model.model.clone())
                    .bind(d.model.protocol.as_str())
                    .bind(d.comm_address.as_str())
                    .bind(at_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        __sql_helpers::map_err(
                            e,
                            &format!("meter serial '{}' already exists in this organisation", d.serial),
                            &format!("organisation {org} does not exist"),
                        )
                    })?;
                    sqlx::query(
                        "INSERT INTO devices (meter_id, organisation_id, state, state_since_ms, model_id, contract_id, \
                         line_no, delivery_id, delivered_on, field_ms_before, faults) \
                         VALUES ($1, $2, 'received', $3, $4, $5, $6, $7, $8, 0, 0)",
                    )
                    .bind(id.to_string())
                    .bind(org.to_string())
                    .bind(at_ms)
                    .bind(d.model.id.to_string())
                    .bind(delivery.contract_id.to_string())
                    .bind(i64::from(d.line_no))
                    .bind(delivery.id.to_string())
                    .bind(delivery.delivered_on.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| __sql_helpers::map_err(e, "device recorded twice", "contract, line or delivery missing"))?;
                    let ordered = format!("contract line {}", d.line_no);
                    Self::__history_row(&mut tx, id, None, DeviceState::Ordered, "order", actor, &ordered, "{}", at_ms).await?;
                    let detail = $crate::__serde_json::json!({
                        "delivery": delivery.id.to_string(),
                        "note_number": delivery.note_number,
                        "note": d.note,
                    })
                    .to_string();
                    let why = format!("delivery note {}", delivery.note_number);
                    Self::__history_row(&mut tx, id, Some(DeviceState::Ordered), DeviceState::Received, "receive", actor, &why, &detail, at_ms).await?;
                    ids.push(id);
                }
                tx.commit().await.map_err(__sql_helpers::plain)?;
                Ok(ids)
            }

            async fn record_acceptance(
                &self,
                check: &$crate::lifecycle::AcceptanceCheck,
                accepted_on: jiff::civil::Date,
                warranty_ends_on: Option<jiff::civil::Date>,
                t: &$crate::lifecycle::Transition,
            ) -> $crate::StoreResult<()> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                Self::__apply_transition(&mut tx, t).await?;
                sqlx::query(
                    "INSERT INTO acceptance_checks (meter_id, appearance_ok, accessories_ok, function_ok, passed, reason, \
                     checked_by, checked_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(check.meter_id.to_string())
                .bind(check.appearance_ok)
                .bind(check.accessories_ok)
                .bind(check.function_ok)
                .bind(check.passed)
                .bind(check.reason.clone())
                .bind(check.checked_by.clone())
                .bind(check.checked_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(|e| __sql_helpers::map_err(e, "this device was already checked", "meter missing"))?;
                if check.passed {
                    sqlx::query("UPDATE devices SET accepted_on = $2, warranty_ends_on = $3 WHERE meter_id = $1")
                        .bind(check.meter_id.to_string())
                        .bind(accepted_on.to_string())
                        .bind(warranty_ends_on.map(|d| d.to_string()))
                        .execute(&mut *tx)
                        .await
                        .map_err(__sql_helpers::plain)?;
                }
                tx.commit().await.map_err(__sql_helpers::plain)
            }

            async fn acceptance_check(&self, meter: $crate::domain::MeterId) -> $crate::StoreResult<Option<$crate::lifecycle::AcceptanceCheck>> {
                const T: &str = "acceptance_checks";
                let Some(r) = sqlx::query("SELECT * FROM acceptance_checks WHERE meter_id = $1")
                    .bind(meter.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?
                else {
                    return Ok(None);
                };
                Ok(Some($crate::lifecycle::AcceptanceCheck {
                    meter_id: __sql_helpers::parsed(&r, T, "meter_id")?,
                    appearance_ok: __sql_helpers::col(&r, T, "appearance_ok")?,
                    accessories_ok: __sql_helpers::col(&r, T, "accessories_ok")?,
                    function_ok: __sql_helpers::col(&r, T, "function_ok")?,
                    passed: __sql_helpers::col(&r, T, "passed")?,
                    reason: __sql_helpers::col(&r, T, "reason")?,
                    checked_by: __sql_helpers::col(&r, T, "checked_by")?,
                    checked_at_ms: __sql_helpers::col(&r, T, "checked_at_ms")?,
                }))
            }

            async fn get_device(&self, meter: $crate::domain::MeterId, now_ms: i64) -> $crate::StoreResult<$crate::lifecycle::DeviceRecord> {
                let sql = format!("{__DEVICE_SELECT} WHERE m.id = $1");
                let r = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(meter.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?
                    .ok_or_else(|| $crate::StoreError::not_found("meter", meter))?;
                Self::__device_row(&r, now_ms)
            }

            async fn list_devices(
                &self,
                org: $crate::domain::OrganisationId,
                filter: &$crate::lifecycle::DeviceFilter,
                after: Option<$crate::domain::MeterId>,
                limit: u32,
                now_ms: i64,
            ) -> $crate::StoreResult<Vec<$crate::lifecycle::DeviceRecord>> {
                // Only the filters given go into the SQL, so the planner
                // sees exactly the conditions that select (see list_meters).
                let mut sql = format!("{__DEVICE_SELECT} WHERE m.organisation_id = $1");
                let mut binds: Vec<String> = vec![org.to_string()];
                let mut add = |cond: &str, v: String, sql: &mut String| {
                    binds.push(v);
                    sql.push_str(&format!(" AND {cond} ${}", binds.len()));
                };
                if let Some(s) = filter.state {
                    // meters.status is the projection of the state, so the
                    // first condition narrows by the (organisation, status,
                    // id) index to the few candidates; the second picks the
                    // state among them (an untracked meter's state is its
                    // status: the six coarse names are states of the same
                    // name).
                    add("m.status =", s.meter_status().as_str().to_owned(), &mut sql);
                    add("COALESCE(d.state, m.status) =", s.as_str().to_owned(), &mut sql);
                }
                if let Some(m) = filter.model_id {
                    add("d.model_id =", m.to_string(), &mut sql);
                }
                if let Some(c) = filter.contract_id {
                    add("d.contract_id =", c.to_string(), &mut sql);
                }
                if let Some(d) = filter.delivery_id {
                    add("d.delivery_id =", d.to_string(), &mut sql);
                }
                if let Some(p) = &filter.serial {
                    add("m.serial >=", p.clone(), &mut sql);
                    add("m.serial <", format!("{p}\u{10FFFF}"), &mut sql);
                }
                if let Some(a) = after {
                    add("m.id >", a.to_string(), &mut sql);
                }
                sql.push_str(&format!(" ORDER BY m.id LIMIT {}", limit.min(1000)));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    q = q.bind(b);
                }
                let rows = q.fetch_all(&self.pool).await.map_err(__sql_helpers::plain)?;
                let out: Vec<_> = rows.iter().map(|r| Self::__device_row(r, now_ms)).collect::<Result<_, _>>()?;
                // A byte-wise prefix range may over-match under a
                // non-C collation; the filter keeps the answer right.
                Ok(match &filter.serial {
                    Some(p) => out.into_iter().filter(|d| d.serial.starts_with(p.as_str())).collect(),
                    None => out,
                })
            }

            async fn device_history(&self, meter: $crate::domain::MeterId) -> $crate::StoreResult<Vec<$crate::lifecycle::DeviceEvent>> {
                const T: &str = "device_events";
                let rows = sqlx::query("SELECT * FROM device_events WHERE meter_id = $1 ORDER BY id")
                    .bind(meter.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::lifecycle::DeviceEvent {
                            id: __sql_helpers::col(r, T, "id")?,
                            meter_id: __sql_helpers::parsed(r, T, "meter_id")?,
                            from_state: __sql_helpers::parsed_opt(r, T, "from_state")?,
                            to_state: __sql_helpers::parsed(r, T, "to_state")?,
                            action: __sql_helpers::col(r, T, "action")?,
                            actor: __sql_helpers::col(r, T, "actor")?,
                            reason: __sql_helpers::col(r, T, "reason")?,
                            detail: __sql_helpers::col(r, T, "detail")?,
                            at_ms: __sql_helpers::col(r, T, "at_ms")?,
                        })
                    })
                    .collect()
            }

            async fn move_device(&self, t: &$crate::lifecycle::Transition) -> $crate::StoreResult<()> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                Self::__apply_transition(&mut tx, t).await?;
                tx.commit().await.map_err(__sql_helpers::plain)
            }
        }
    };
}
