//! The SQL implementation of [`Store`](crate::Store), written once and expanded
//! by each backend crate for its own pool and row types.
//!
//! Why a macro: sqlx's generic `Database` bounds for "any backend" would drown
//! every query in where-clauses, and `AnyPool` loses types. Expanding the same
//! source per backend keeps the SQL single and the types concrete. The SQL uses
//! only what both PostgreSQL and SQLite accept (`$N` placeholders, `RETURNING`
//! not needed, `COALESCE`, `GROUP BY`).
//!
//! The expanding crate must have `sqlx`, `async_trait`, `jiff` and `tracing` as
//! dependencies, and its store type must provide:
//! `pool: sqlx::Pool<DB>` and inherent `async fn backend_ping`,
//! `async fn backend_migrate`, `const BACKEND: Backend`.

/// Expands `impl Store for $store`, see the module docs.
#[macro_export]
macro_rules! impl_sql_store {
    ($store:ty, $row:ty) => {
        mod __sql_helpers {
            use $crate::StoreError;

            pub(crate) type Row = $row;

            /// Turns a database error into a store error. `conflict` and
            /// `reference` describe, for the operator, what a unique or foreign
            /// key violation means in this call.
            pub(crate) fn map_err(e: sqlx::Error, conflict: &str, reference: &str) -> StoreError {
                if let Some(db) = e.as_database_error() {
                    match db.kind() {
                        sqlx::error::ErrorKind::UniqueViolation => {
                            return StoreError::Conflict(conflict.to_owned())
                        }
                        sqlx::error::ErrorKind::ForeignKeyViolation => {
                            return StoreError::Reference(reference.to_owned())
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

            pub(crate) fn plain(e: sqlx::Error) -> StoreError {
                map_err(e, "unique constraint violated", "referenced row missing")
            }

            /// Starts a transaction that reads and then writes. SQLite takes
            /// the write lock at its start (`BEGIN IMMEDIATE`, waiting out the
            /// busy timeout like any writer): a deferred one would fail with
            /// SQLITE_BUSY at its first write whenever another writer
            /// committed after its first read.
            pub(crate) async fn begin_write<DB: sqlx::Database>(
                pool: &sqlx::Pool<DB>,
            ) -> Result<sqlx::Transaction<'static, DB>, StoreError> {
                let tx = if DB::NAME == "SQLite" {
                    pool.begin_with("BEGIN IMMEDIATE").await
                } else {
                    pool.begin().await
                };
                tx.map_err(plain)
            }

            pub(crate) fn col<'r, T>(
                row: &'r Row,
                table: &'static str,
                name: &str,
            ) -> Result<T, StoreError>
            where
                T: sqlx::Decode<'r, <Row as sqlx::Row>::Database>
                    + sqlx::Type<<Row as sqlx::Row>::Database>,
            {
                sqlx::Row::try_get(row, name).map_err(|e| StoreError::Corrupt {
                    table,
                    reason: format!("column {name}: {e}"),
                })
            }

            /// Reads a TEXT column and parses it into a domain value.
            pub(crate) fn parsed<T>(row: &Row, table: &'static str, name: &str) -> Result<T, StoreError>
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

            /// Reads a nullable JSON TEXT column of one row by id (the
            /// operator overrides: balance rules, protected windows, sharing).
            pub(crate) async fn json_column<T: $crate::__serde::de::DeserializeOwned>(
                pool: &sqlx::Pool<<Row as sqlx::Row>::Database>,
                table: &'static str,
                column: &'static str,
                entity: &'static str,
                id: &str,
            ) -> Result<Option<T>, StoreError> {
                let sql = format!("SELECT {column} FROM {table} WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.to_owned())
                    .fetch_optional(pool)
                    .await
                    .map_err(plain)?
                    .ok_or_else(|| StoreError::not_found(entity, id))?;
                let text: Option<String> = col(&row, table, column)?;
                text.map(|t| {
                    $crate::__serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
                        table,
                        reason: format!("{column}: {e}"),
                    })
                })
                .transpose()
            }

            /// Writes (or, with `None`, clears) a JSON TEXT column of one row by id.
            pub(crate) async fn set_json_column<T: $crate::__serde::Serialize>(
                pool: &sqlx::Pool<<Row as sqlx::Row>::Database>,
                table: &'static str,
                column: &'static str,
                entity: &'static str,
                id: &str,
                value: Option<&T>,
            ) -> Result<(), StoreError> {
                let text = value
                    .map($crate::__serde_json::to_string)
                    .transpose()
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                let sql = format!("UPDATE {table} SET {column} = $2 WHERE id = $1");
                let done = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.to_owned())
                    .bind(text)
                    .execute(pool)
                    .await
                    .map_err(plain)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found(entity, id));
                }
                Ok(())
            }

            pub(crate) fn instant(row: &Row, table: &'static str, name: &str) -> Result<jiff::Timestamp, StoreError> {
                let ms: i64 = col(row, table, name)?;
                jiff::Timestamp::from_millisecond(ms).map_err(|e| StoreError::Corrupt {
                    table,
                    reason: format!("column {name}: {e}"),
                })
            }

            pub(crate) fn small<T: TryFrom<i64>>(row: &Row, table: &'static str, name: &str) -> Result<T, StoreError> {
                let v: i64 = col(row, table, name)?;
                T::try_from(v).map_err(|_| StoreError::Corrupt {
                    table,
                    reason: format!("column {name}: {v} out of range"),
                })
            }

            pub(crate) fn now_ms() -> i64 {
                jiff::Timestamp::now().as_millisecond()
            }

            /// A customer's personal values as stored.
            pub(crate) struct SealedCustomer {
                pub(crate) name: String,
                pub(crate) phone: Option<String>,
                pub(crate) id_number: Option<String>,
                pub(crate) address: Option<String>,
                pub(crate) phone_index: Option<String>,
                pub(crate) name_index: String,
            }

            /// The AAD of a personal value: its table, column and row, so a
            /// ciphertext copied elsewhere does not open.
            pub(crate) fn aad(column: &str, id: &$crate::domain::CustomerId) -> String {
                format!("customers.{column}:{id}")
            }

            fn vault_err(e: $crate::__vault::VaultError) -> StoreError {
                StoreError::Corrupt { table: "customers", reason: format!("personal data: {e}") }
            }

            pub(crate) fn phone_index(vault: &$crate::Vault, phone: &str) -> String {
                vault.blind_index("phone", &$crate::__vault::normalize_phone(phone))
            }

            /// The blind index of a name (exact match on the normalised
            /// name: trimmed, spaces collapsed, lower-case), for search by
            /// name without the plaintext in the database.
            pub(crate) fn name_index(vault: &$crate::Vault, name: &str) -> String {
                vault.blind_index("name", &$crate::__vault::normalize_name(name))
            }

            pub(crate) fn seal_customer(
                vault: &$crate::Vault,
                c: &$crate::domain::Customer,
            ) -> Result<SealedCustomer, StoreError> {
                let seal = |column: &str, v: &str| vault.reseal(v, &aad(column, &c.id)).map_err(vault_err);
                Ok(SealedCustomer {
                    name: seal("name", c.name.expose())?,
                    phone: c.phone.as_ref().map(|p| seal("phone", p.expose())).transpose()?,
                    id_number: c.id_number.as_ref().map(|p| seal("id_number", p.expose())).transpose()?,
                    address: c.address.as_ref().map(|p| seal("address", p.expose())).transpose()?,
                    phone_index: c.phone.as_ref().map(|p| phone_index(vault, p.expose())),
                    name_index: name_index(vault, c.name.expose()),
                })
            }

            /// Opens sealed values; a legacy plaintext value (written before
            /// encryption, not yet re-sealed) is returned as it is.
            pub(crate) fn open_customer(
                vault: &$crate::Vault,
                mut c: $crate::domain::Customer,
            ) -> Result<$crate::domain::Customer, StoreError> {
                use $crate::domain::Personal;
                let id = c.id;
                let open = |column: &str, v: &Personal<String>| -> Result<Personal<String>, StoreError> {
                    if $crate::Vault::is_sealed(v.expose()) {
                        vault.open(v.expose(), &aad(column, &id)).map(Personal::new).map_err(vault_err)
                    } else {
                        Ok(v.clone())
                    }
                };
                c.name = open("name", &c.name)?;
                c.phone = c.phone.as_ref().map(|p| open("phone", p)).transpose()?;
                c.id_number = c.id_number.as_ref().map(|p| open("id_number", p)).transpose()?;
                c.address = c.address.as_ref().map(|p| open("address", p)).transpose()?;
                Ok(c)
            }
        }

        mod __sql_rows {
            use $crate::domain::*;
            use $crate::StoreError;
            use super::__sql_helpers::{col, instant, parsed, parsed_opt, small, Row};

            pub(crate) const ORGANISATION: &str = "id, name, created_at_ms";
            pub(crate) fn organisation(r: &Row) -> Result<Organisation, StoreError> {
                const T: &str = "organisations";
                Ok(Organisation {
                    id: parsed(r, T, "id")?,
                    name: parsed(r, T, "name")?,
                    created_at: instant(r, T, "created_at_ms")?,
                })
            }

            pub(crate) const SITE: &str = "id, organisation_id, code, name, city, timezone, created_at_ms";
            pub(crate) fn site(r: &Row) -> Result<Site, StoreError> {
                const T: &str = "sites";
                Ok(Site {
                    id: parsed(r, T, "id")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    code: parsed(r, T, "code")?,
                    name: parsed(r, T, "name")?,
                    city: parsed(r, T, "city")?,
                    timezone: parsed(r, T, "timezone")?,
                    created_at: instant(r, T, "created_at_ms")?,
                })
            }

            pub(crate) const BUILDING: &str = "id, site_id, code, name, floors, created_at_ms";
            pub(crate) fn building(r: &Row) -> Result<Building, StoreError> {
                const T: &str = "buildings";
                Ok(Building {
                    id: parsed(r, T, "id")?,
                    site_id: parsed(r, T, "site_id")?,
                    code: parsed(r, T, "code")?,
                    name: parsed(r, T, "name")?,
                    floors: small(r, T, "floors")?,
                    created_at: instant(r, T, "created_at_ms")?,
                })
            }

            pub(crate) const UNIT: &str = "id, building_id, code, floor, kind, area_centi_sqm, created_at_ms";
            pub(crate) fn unit(r: &Row) -> Result<Unit, StoreError> {
                const T: &str = "units";
                let area: i64 = col(r, T, "area_centi_sqm")?;
                Ok(Unit {
                    id: parsed(r, T, "id")?,
                    building_id: parsed(r, T, "building_id")?,
                    code: parsed(r, T, "code")?,
                    floor: small(r, T, "floor")?,
                    kind: parsed(r, T, "kind")?,
                    area: AreaCentiSqm::new(area).map_err(|e| StoreError::Corrupt { table: T, reason: e.to_string() })?,
                    created_at: instant(r, T, "created_at_ms")?,
                })
            }

            pub(crate) const CUSTOMER: &str = "id, organisation_id, kind, name, phone, id_number, address, created_at_ms";
            pub(crate) fn customer(r: &Row) -> Result<Customer, StoreError> {
                const T: &str = "customers";
                let name: String = col(r, T, "name")?;
                let phone: Option<String> = col(r, T, "phone")?;
                let id_number: Option<String> = col(r, T, "id_number")?;
                let address: Option<String> = col(r, T, "address")?;
                Ok(Customer {
                    id: parsed(r, T, "id")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    kind: parsed(r, T, "kind")?,
                    name: Personal::new(name),
                    phone: phone.map(Personal::new),
                    id_number: id_number.map(Personal::new),
                    address: address.map(Personal::new),
                    created_at: instant(r, T, "created_at_ms")?,
                })
            }

            pub(crate) const ACCOUNT: &str = "id, organisation_id, number, customer_id, class, status, balance_fen, created_at_ms";
            pub(crate) fn account(r: &Row) -> Result<Account, StoreError> {
                const T: &str = "accounts";
                Ok(Account {
                    id: parsed(r, T, "id")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    number: parsed(r, T, "number")?,
                    customer_id: parsed(r, T, "customer_id")?,
                    class: parsed(r, T, "class")?,
                    status: parsed(r, T, "status")?,
                    balance: Fen(col(r, T, "balance_fen")?),
                    created_at: instant(r, T, "created_at_ms")?,
                })
            }

            pub(crate) const METER: &str = "id, organisation_id, serial, utility, model, protocol, comm_address, multiplier, status, unit_id, account_id, tariff_code, created_at_ms";
            pub(crate) fn meter(r: &Row) -> Result<Meter, StoreError> {
                const T: &str = "meters";
                let multiplier: u32 = small(r, T, "multiplier")?;
                Ok(Meter {
                    id: parsed(r, T, "id")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    serial: parsed(r, T, "serial")?,
                    utility: parsed(r, T, "utility")?,
                    model: parsed(r, T, "model")?,
                    protocol: parsed(r, T, "protocol")?,
                    comm_address: parsed(r, T, "comm_address")?,
                    multiplier: Multiplier::new(multiplier).map_err(|e| StoreError::Corrupt { table: T, reason: e.to_string() })?,
                    status: parsed(r, T, "status")?,
                    unit_id: parsed_opt(r, T, "unit_id")?,
                    account_id: parsed_opt(r, T, "account_id")?,
                    tariff_code: parsed_opt(r, T, "tariff_code")?,
                    created_at: instant(r, T, "created_at_ms")?,
                })
            }

            pub(crate) const TARIFF: &str = "organisation_id, code, revision, utility, name, source_toml, created_at_ms";
            pub(crate) fn tariff(r: &Row) -> Result<TariffRevision, StoreError> {
                const T: &str = "tariff_revisions";
                Ok(TariffRevision {
                    organisation_id: parsed(r, T, "organisation_id")?,
                    code: parsed(r, T, "code")?,
                    revision: col(r, T, "revision")?,
                    utility: parsed(r, T, "utility")?,
                    name: col(r, T, "name")?,
                    source_toml: col(r, T, "source_toml")?,
                    created_at: instant(r, T, "created_at_ms")?,
                })
            }

            pub(crate) const STAFF_USER: &str = "id, organisation_id, username, display_name, role, password_hash, active, created_at_ms";
            pub(crate) fn staff_user(r: &Row) -> Result<StaffUser, StoreError> {
                const T: &str = "staff_users";
                Ok(StaffUser {
                    id: parsed(r, T, "id")?,
                    organisation_id: parsed(r, T, "organisation_id")?,
                    username: parsed(r, T, "username")?,
                    display_name: parsed(r, T, "display_name")?,
                    role: parsed(r, T, "role")?,
                    password_hash: col(r, T, "password_hash")?,
                    active: col(r, T, "active")?,
                    created_at: instant(r, T, "created_at_ms")?,
                })
            }
        }

        impl $store {
            /// The row whose `key_col` equals `key`, mapped, if any.
            async fn fetch_by<T>(
                &self,
                table: &str,
                cols: &str,
                key_col: &str,
                key: String,
                map: fn(&__sql_helpers::Row) -> $crate::StoreResult<T>,
            ) -> $crate::StoreResult<Option<T>> {
                let sql = format!("SELECT {cols} FROM {table} WHERE {key_col} = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                row.as_ref().map(map).transpose()
            }

            /// One keyset page of the rows whose `parent_col` equals `parent`.
            async fn list_by<T>(
                &self,
                table: &str,
                cols: &str,
                parent_col: &str,
                parent: String,
                page: &$crate::Page,
                map: fn(&__sql_helpers::Row) -> $crate::StoreResult<T>,
            ) -> $crate::StoreResult<Vec<T>> {
                let sql = format!(
                    "SELECT {cols} FROM {table} WHERE {parent_col} = $1 AND id > $2 ORDER BY id LIMIT $3"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(parent)
                    .bind(page.after_key())
                    .bind(i64::from(page.limit()))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(map).collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::Store for $store {
            fn backend(&self) -> $crate::Backend {
                <$store>::BACKEND
            }

            fn journal(&self) -> &dyn $crate::Journal {
                self
            }

            fn access(&self) -> &dyn $crate::Access {
                self
            }

            fn console(&self) -> &dyn $crate::Console {
                self
            }

            fn procurement(&self) -> &dyn $crate::Procurement {
                self
            }

            fn field(&self) -> &dyn $crate::Field {
                self
            }

            fn set_vault(&self, vault: std::sync::Arc<$crate::Vault>) {
                self.vault.set(vault);
            }

            async fn find_customers_by_phone(
                &self,
                org: $crate::domain::OrganisationId,
                phone: &str,
            ) -> $crate::StoreResult<Vec<$crate::domain::Customer>> {
                let vault = self.vault.get()?;
                // No ORDER BY in SQL: with one, SQLite walks the
                // organisation's customers in id order instead of the blind
                // index (seconds at a million customers). The few matches
                // are sorted here.
                let sql = format!(
                    "SELECT {} FROM customers WHERE organisation_id = $1 AND phone_index = $2 LIMIT 100",
                    __sql_rows::CUSTOMER
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org.to_string())
                    .bind(__sql_helpers::phone_index(&vault, phone))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                let mut found = rows
                    .iter()
                    .map(|r| __sql_rows::customer(r).and_then(|c| __sql_helpers::open_customer(&vault, c)))
                    .collect::<$crate::StoreResult<Vec<$crate::domain::Customer>>>()?;
                found.sort_by_key(|c| c.id.to_string());
                Ok(found)
            }

            async fn reseal_personal_data(&self) -> $crate::StoreResult<$crate::ResealReport> {
                let vault = self.vault.get()?;
                let mut report = $crate::ResealReport::default();
                let mut after = String::new();
                loop {
                    let sql = format!(
                        "SELECT {}, phone_index, name_index FROM customers WHERE id > $1 ORDER BY id LIMIT 1000",
                        __sql_rows::CUSTOMER
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(&after)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(__sql_helpers::plain)?;
                    let Some(last) = rows.last() else { break };
                    after = __sql_helpers::col(last, "customers", "id")?;
                    let mut tx = self.pool.begin().await.map_err(__sql_helpers::plain)?;
                    for r in &rows {
                        report.customers += 1;
                        let stored = __sql_rows::customer(r)?;
                        let index: Option<String> = __sql_helpers::col(r, "customers", "phone_index")?;
                        let stored_name_index: Option<String> = __sql_helpers::col(r, "customers", "name_index")?;
                        let values = [
                            Some(stored.name.expose()),
                            stored.phone.as_ref().map(|p| p.expose()),
                            stored.id_number.as_ref().map(|p| p.expose()),
                            stored.address.as_ref().map(|p| p.expose()),
                        ];
                        let plain = __sql_helpers::open_customer(&vault, stored.clone())?;
                        let want_index = plain.phone.as_ref().map(|p| __sql_helpers::phone_index(&vault, p.expose()));
                        let want_name_index = __sql_helpers::name_index(&vault, plain.name.expose());
                        let current = values.iter().flatten().all(|v| vault.is_current(v))
                            && index == want_index
                            && stored_name_index.as_deref() == Some(want_name_index.as_str());
                        if current {
                            continue;
                        }
                        let sealed = __sql_helpers::seal_customer(&vault, &plain)?;
                        sqlx::query(
                            "UPDATE customers SET name = $2, phone = $3, id_number = $4, address = $5, phone_index = $6, name_index = $7 WHERE id = $1",
                        )
                        .bind(plain.id.to_string())
                        .bind(sealed.name)
                        .bind(sealed.phone)
                        .bind(sealed.id_number)
                        .bind(sealed.address)
                        .bind(sealed.phone_index)
                        .bind(sealed.name_index)
                        .execute(&mut *tx)
                        .await
                        .map_err(__sql_helpers::plain)?;
                        report.resealed += 1;
                    }
                    tx.commit().await.map_err(__sql_helpers::plain)?;
                }
                Ok(report)
            }

            async fn ping(&self) -> $crate::StoreResult<()> {
                self.backend_ping().await
            }

            async fn migrate(&self) -> $crate::StoreResult<$crate::MigrationReport> {
                self.backend_migrate().await
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn create_organisation(
                &self,
                new: &$crate::domain::NewOrganisation,
            ) -> $crate::StoreResult<$crate::domain::Organisation> {
                let row = $crate::domain::Organisation {
                    id: $crate::domain::OrganisationId::new(),
                    name: new.name.clone(),
                    created_at: jiff::Timestamp::from_millisecond(__sql_helpers::now_ms())
                        .map_err(|e| $crate::StoreError::Backend(e.to_string()))?,
                };
                sqlx::query("INSERT INTO organisations (id, name, created_at_ms) VALUES ($1, $2, $3)")
                    .bind(row.id.to_string())
                    .bind(row.name.as_str())
                    .bind(row.created_at.as_millisecond())
                    .execute(&self.pool)
                    .await
                    .map_err(|e| __sql_helpers::map_err(e, &format!("organisation '{}' already exists", row.name), "-"))?;
                Ok(row)
            }

            async fn get_organisation(
                &self,
                id: $crate::domain::OrganisationId,
            ) -> $crate::StoreResult<$crate::domain::Organisation> {
                self.fetch_by("organisations", __sql_rows::ORGANISATION, "id", id.to_string(), __sql_rows::organisation)
                    .await?
                    .ok_or_else(|| $crate::StoreError::not_found("organisation", id))
            }

            async fn find_organisation_by_name(
                &self,
                name: &$crate::domain::Name,
            ) -> $crate::StoreResult<Option<$crate::domain::Organisation>> {
                self.fetch_by("organisations", __sql_rows::ORGANISATION, "name", name.as_str().to_owned(), __sql_rows::organisation).await
            }

            async fn list_organisations(
                &self,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::domain::Organisation>> {
                let sql = format!(
                    "SELECT {} FROM organisations WHERE id > $1 ORDER BY id LIMIT $2",
                    __sql_rows::ORGANISATION
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(page.after_key())
                    .bind(i64::from(page.limit()))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(__sql_rows::organisation).collect()
            }

            async fn create_site(&self, new: &$crate::domain::NewSite) -> $crate::StoreResult<$crate::domain::Site> {
                let row = $crate::domain::Site {
                    id: $crate::domain::SiteId::new(),
                    organisation_id: new.organisation_id,
                    code: new.code.clone(),
                    name: new.name.clone(),
                    city: new.city.clone(),
                    timezone: new.timezone.clone(),
                    created_at: jiff::Timestamp::from_millisecond(__sql_helpers::now_ms())
                        .map_err(|e| $crate::StoreError::Backend(e.to_string()))?,
                };
                sqlx::query(
                    "INSERT INTO sites (id, organisation_id, code, name, city, timezone, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(row.id.to_string())
                .bind(row.organisation_id.to_string())
                .bind(row.code.as_str())
                .bind(row.name.as_str())
                .bind(row.city.as_str())
                .bind(row.timezone.as_str())
                .bind(row.created_at.as_millisecond())
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("site code '{}' already exists in this organisation", row.code),
                        &format!("organisation {} does not exist", row.organisation_id),
                    )
                })?;
                Ok(row)
            }

            async fn get_site(&self, id: $crate::domain::SiteId) -> $crate::StoreResult<$crate::domain::Site> {
                self.fetch_by("sites", __sql_rows::SITE, "id", id.to_string(), __sql_rows::site)
                    .await?
                    .ok_or_else(|| $crate::StoreError::not_found("site", id))
            }

            async fn list_sites(
                &self,
                org: $crate::domain::OrganisationId,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::domain::Site>> {
                self.list_by("sites", __sql_rows::SITE, "organisation_id", org.to_string(), page, __sql_rows::site).await
            }

            async fn create_building(
                &self,
                new: &$crate::domain::NewBuilding,
            ) -> $crate::StoreResult<$crate::domain::Building> {
                let row = $crate::domain::Building {
                    id: $crate::domain::BuildingId::new(),
                    site_id: new.site_id,
                    code: new.code.clone(),
                    name: new.name.clone(),
                    floors: new.floors,
                    created_at: jiff::Timestamp::from_millisecond(__sql_helpers::now_ms())
                        .map_err(|e| $crate::StoreError::Backend(e.to_string()))?,
                };
                sqlx::query(
                    "INSERT INTO buildings (id, site_id, code, name, floors, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(row.id.to_string())
                .bind(row.site_id.to_string())
                .bind(row.code.as_str())
                .bind(row.name.as_str())
                .bind(i64::from(row.floors))
                .bind(row.created_at.as_millisecond())
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("building code '{}' already exists on this site", row.code),
                        &format!("site {} does not exist", row.site_id),
                    )
                })?;
                Ok(row)
            }

            async fn get_building(
                &self,
                id: $crate::domain::BuildingId,
            ) -> $crate::StoreResult<$crate::domain::Building> {
                self.fetch_by("buildings", __sql_rows::BUILDING, "id", id.to_string(), __sql_rows::building)
                    .await?
                    .ok_or_else(|| $crate::StoreError::not_found("building", id))
            }

            async fn list_buildings(
                &self,
                site: $crate::domain::SiteId,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::domain::Building>> {
                self.list_by("buildings", __sql_rows::BUILDING, "site_id", site.to_string(), page, __sql_rows::building).await
            }

            async fn create_unit(&self, new: &$crate::domain::NewUnit) -> $crate::StoreResult<$crate::domain::Unit> {
                let row = $crate::domain::Unit {
                    id: $crate::domain::UnitId::new(),
                    building_id: new.building_id,
                    code: new.code.clone(),
                    floor: new.floor,
                    kind: new.kind,
                    area: new.area,
                    created_at: jiff::Timestamp::from_millisecond(__sql_helpers::now_ms())
                        .map_err(|e| $crate::StoreError::Backend(e.to_string()))?,
                };
                sqlx::query(
                    "INSERT INTO units (id, building_id, code, floor, kind, area_centi_sqm, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(row.id.to_string())
                .bind(row.building_id.to_string())
                .bind(row.code.as_str())
                .bind(i64::from(row.floor))
                .bind(row.kind.as_str())
                .bind(row.area.get())
                .bind(row.created_at.as_millisecond())
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("unit code '{}' already exists in this building", row.code),
                        &format!("building {} does not exist", row.building_id),
                    )
                })?;
                Ok(row)
            }

            async fn get_unit(&self, id: $crate::domain::UnitId) -> $crate::StoreResult<$crate::domain::Unit> {
                self.fetch_by("units", __sql_rows::UNIT, "id", id.to_string(), __sql_rows::unit)
                    .await?
                    .ok_or_else(|| $crate::StoreError::not_found("unit", id))
            }

            async fn list_units(
                &self,
                building: $crate::domain::BuildingId,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::domain::Unit>> {
                self.list_by("units", __sql_rows::UNIT, "building_id", building.to_string(), page, __sql_rows::unit).await
            }

            async fn unit_organisation(
                &self,
                id: $crate::domain::UnitId,
            ) -> $crate::StoreResult<$crate::domain::OrganisationId> {
                let row = sqlx::query(
                    "SELECT s.organisation_id AS organisation_id FROM units u \
                     JOIN buildings b ON b.id = u.building_id \
                     JOIN sites s ON s.id = b.site_id WHERE u.id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?
                .ok_or_else(|| $crate::StoreError::not_found("unit", id))?;
                __sql_helpers::parsed(&row, "sites", "organisation_id")
            }

            async fn create_customer(
                &self,
                new: &$crate::domain::NewCustomer,
            ) -> $crate::StoreResult<$crate::domain::Customer> {
                let vault = self.vault.get()?;
                let row = $crate::domain::Customer {
                    id: $crate::domain::CustomerId::new(),
                    organisation_id: new.organisation_id,
                    kind: new.kind,
                    name: new.name.clone(),
                    phone: new.phone.clone(),
                    id_number: new.id_number.clone(),
                    address: new.address.clone(),
                    created_at: jiff::Timestamp::from_millisecond(__sql_helpers::now_ms())
                        .map_err(|e| $crate::StoreError::Backend(e.to_string()))?,
                };
                // Personal data (PERSONAL_DATA_COLUMNS) is sealed before it
                // reaches SQL; the phone and the name are searchable by their
                // blind indexes.
                let sealed = __sql_helpers::seal_customer(&vault, &row)?;
                sqlx::query(
                    "INSERT INTO customers (id, organisation_id, kind, name, phone, id_number, address, phone_index, name_index, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(row.id.to_string())
                .bind(row.organisation_id.to_string())
                .bind(row.kind.as_str())
                .bind(sealed.name)
                .bind(sealed.phone)
                .bind(sealed.id_number)
                .bind(sealed.address)
                .bind(sealed.phone_index)
                .bind(sealed.name_index)
                .bind(row.created_at.as_millisecond())
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        "customer already exists",
                        &format!("organisation {} does not exist", row.organisation_id),
                    )
                })?;
                Ok(row)
            }

            async fn get_customer(
                &self,
                id: $crate::domain::CustomerId,
            ) -> $crate::StoreResult<$crate::domain::Customer> {
                let c = self
                    .fetch_by("customers", __sql_rows::CUSTOMER, "id", id.to_string(), __sql_rows::customer)
                    .await?
                    .ok_or_else(|| $crate::StoreError::not_found("customer", id))?;
                __sql_helpers::open_customer(&*self.vault.get()?, c)
            }

            async fn list_customers(
                &self,
                org: $crate::domain::OrganisationId,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::domain::Customer>> {
                let vault = self.vault.get()?;
                self.list_by("customers", __sql_rows::CUSTOMER, "organisation_id", org.to_string(), page, __sql_rows::customer)
                    .await?
                    .into_iter()
                    .map(|c| __sql_helpers::open_customer(&vault, c))
                    .collect()
            }

            async fn create_account(
                &self,
                new: &$crate::domain::NewAccount,
            ) -> $crate::StoreResult<$crate::domain::Account> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                let owner = sqlx::query("SELECT organisation_id FROM customers WHERE id = $1")
                    .bind(new.customer_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(__sql_helpers::plain)?;
                let owner: $crate::domain::OrganisationId = match owner {
                    Some(r) => __sql_helpers::parsed(&r, "customers", "organisation_id")?,
                    None => {
                        return Err($crate::StoreError::Reference(format!(
                            "customer {} does not exist",
                            new.customer_id
                        )))
                    }
                };
                if owner != new.organisation_id {
                    return Err($crate::StoreError::Reference(format!(
                        "customer {} belongs to another organisation",
                        new.customer_id
                    )));
                }
                let row = $crate::domain::Account {
                    id: $crate::domain::AccountId::new(),
                    organisation_id: new.organisation_id,
                    number: new.number.clone(),
                    customer_id: new.customer_id,
                    class: new.class,
                    status: $crate::domain::AccountStatus::Active,
                    balance: $crate::domain::Fen::ZERO,
                    created_at: jiff::Timestamp::from_millisecond(__sql_helpers::now_ms())
                        .map_err(|e| $crate::StoreError::Backend(e.to_string()))?,
                };
                sqlx::query(
                    "INSERT INTO accounts (id, organisation_id, number, customer_id, class, status, balance_fen, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(row.id.to_string())
                .bind(row.organisation_id.to_string())
                .bind(row.number.as_str())
                .bind(row.customer_id.to_string())
                .bind(row.class.as_str())
                .bind(row.status.as_str())
                .bind(row.balance.0)
                .bind(row.created_at.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("account number '{}' already exists", row.number),
                        &format!("organisation {} does not exist", row.organisation_id),
                    )
                })?;
                tx.commit().await.map_err(__sql_helpers::plain)?;
                Ok(row)
            }

            async fn get_account(
                &self,
                id: $crate::domain::AccountId,
            ) -> $crate::StoreResult<$crate::domain::Account> {
                self.fetch_by("accounts", __sql_rows::ACCOUNT, "id", id.to_string(), __sql_rows::account)
                    .await?
                    .ok_or_else(|| $crate::StoreError::not_found("account", id))
            }

            async fn find_account_by_number(
                &self,
                org: $crate::domain::OrganisationId,
                number: &$crate::domain::AccountNumber,
            ) -> $crate::StoreResult<Option<$crate::domain::Account>> {
                let sql = format!(
                    "SELECT {} FROM accounts WHERE organisation_id = $1 AND number = $2",
                    __sql_rows::ACCOUNT
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org.to_string())
                    .bind(number.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                row.as_ref().map(__sql_rows::account).transpose()
            }

            async fn list_accounts(
                &self,
                org: $crate::domain::OrganisationId,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::domain::Account>> {
                self.list_by("accounts", __sql_rows::ACCOUNT, "organisation_id", org.to_string(), page, __sql_rows::account).await
            }

            async fn create_meter(&self, new: &$crate::domain::NewMeter) -> $crate::StoreResult<$crate::domain::Meter> {
                new.validate()
                    .map_err(|e| $crate::StoreError::Reference(e.to_string()))?;
                let row = $crate::domain::Meter {
                    id: $crate::domain::MeterId::new(),
                    organisation_id: new.organisation_id,
                    serial: new.serial.clone(),
                    utility: new.utility,
                    model: new.model.clone(),
                    protocol: new.protocol,
                    comm_address: new.comm_address.clone(),
                    multiplier: new.multiplier,
                    status: $crate::domain::MeterStatus::InStock,
                    unit_id: None,
                    account_id: None,
                    tariff_code: None,
                    created_at: jiff::Timestamp::from_millisecond(__sql_helpers::now_ms())
                        .map_err(|e| $crate::StoreError::Backend(e.to_string()))?,
                };
                sqlx::query(
                    "INSERT INTO meters (id, organisation_id, serial, utility, model, protocol, comm_address, \
                     multiplier, status, unit_id, account_id, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, $10)",
                )
                .bind(row.id.to_string())
                .bind(row.organisation_id.to_string())
                .bind(row.serial.as_str())
                .bind(row.utility.as_str())
                .bind(row.model.as_str())
                .bind(row.protocol.as_str())
                .bind(row.comm_address.as_str())
                .bind(i64::from(row.multiplier.get()))
                .bind(row.status.as_str())
                .bind(row.created_at.as_millisecond())
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("meter serial '{}' already exists in this organisation", row.serial),
                        &format!("organisation {} does not exist", row.organisation_id),
                    )
                })?;
                Ok(row)
            }

            async fn get_meter(&self, id: $crate::domain::MeterId) -> $crate::StoreResult<$crate::domain::Meter> {
                self.fetch_by("meters", __sql_rows::METER, "id", id.to_string(), __sql_rows::meter)
                    .await?
                    .ok_or_else(|| $crate::StoreError::not_found("meter", id))
            }

            async fn find_meter_by_serial(
                &self,
                org: $crate::domain::OrganisationId,
                serial: &$crate::domain::MeterSerial,
            ) -> $crate::StoreResult<Option<$crate::domain::Meter>> {
                let sql = format!(
                    "SELECT {} FROM meters WHERE organisation_id = $1 AND serial = $2",
                    __sql_rows::METER
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org.to_string())
                    .bind(serial.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                row.as_ref().map(__sql_rows::meter).transpose()
            }

            async fn find_meters_by_comm_address(
                &self,
                address: &str,
            ) -> $crate::StoreResult<Vec<$crate::domain::Meter>> {
                let sql = format!(
                    "SELECT {} FROM meters WHERE comm_address = $1 ORDER BY id",
                    __sql_rows::METER
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(address)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(__sql_rows::meter).collect()
            }

            async fn add_device_token(&self, new: &$crate::DeviceToken) -> $crate::StoreResult<()> {
                if let Some(meter) = new.meter_id {
                    let m = self.get_meter(meter).await?;
                    if m.organisation_id != new.organisation_id {
                        return Err($crate::StoreError::Reference(format!(
                            "meter {meter} belongs to another organisation"
                        )));
                    }
                }
                sqlx::query(
                    "INSERT INTO device_tokens \
                     (token_hash, organisation_id, meter_id, name, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(new.token_hash.as_str())
                .bind(new.organisation_id.to_string())
                .bind(new.meter_id.map(|m| m.to_string()))
                .bind(new.name.as_str())
                .bind(new.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(())
            }

            async fn find_device_token(
                &self,
                token_hash: &str,
            ) -> $crate::StoreResult<Option<$crate::DeviceToken>> {
                const T: &str = "device_tokens";
                let row = sqlx::query(
                    "SELECT token_hash, organisation_id, meter_id, name, created_at_ms \
                     FROM device_tokens WHERE token_hash = $1 AND revoked_at_ms IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let Some(r) = row else { return Ok(None) };
                Ok(Some($crate::DeviceToken {
                    token_hash: __sql_helpers::col(&r, T, "token_hash")?,
                    organisation_id: __sql_helpers::parsed(&r, T, "organisation_id")?,
                    meter_id: __sql_helpers::parsed_opt(&r, T, "meter_id")?,
                    name: __sql_helpers::col(&r, T, "name")?,
                    created_at_ms: __sql_helpers::col(&r, T, "created_at_ms")?,
                }))
            }

            async fn revoke_device_tokens(
                &self,
                meter: $crate::domain::MeterId,
                at_ms: i64,
            ) -> $crate::StoreResult<u64> {
                let done = sqlx::query(
                    "UPDATE device_tokens SET revoked_at_ms = $1 \
                     WHERE meter_id = $2 AND revoked_at_ms IS NULL",
                )
                .bind(at_ms)
                .bind(meter.to_string())
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected())
            }

            async fn list_meters(
                &self,
                org: $crate::domain::OrganisationId,
                filter: &$crate::MeterFilter,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::domain::Meter>> {
                // Only the filters given become conditions, so the planner
                // can use the index that fits (by account, by unit, by
                // utility); `($n IS NULL OR col = $n)` hid them all and made
                // an account's meters a scan of the organisation's meters
                // (over a second at a million meters).
                let mut conditions = String::new();
                let mut values: Vec<String> = vec![org.to_string()];
                let given = [
                    ("utility", filter.utility.map(|u| u.as_str().to_owned())),
                    ("status", filter.status.map(|s| s.as_str().to_owned())),
                    ("unit_id", filter.unit_id.map(|u| u.to_string())),
                    ("account_id", filter.account_id.map(|a| a.to_string())),
                ];
                for (column, value) in given {
                    if let Some(v) = value {
                        values.push(v);
                        conditions.push_str(&format!(" AND {column} = ${}", values.len()));
                    }
                }
                let sql = format!(
                    "SELECT {} FROM meters WHERE organisation_id = $1{conditions} \
                     AND id > ${} ORDER BY id LIMIT ${}",
                    __sql_rows::METER,
                    values.len() + 1,
                    values.len() + 2,
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in values {
                    query = query.bind(v);
                }
                let rows = query
                    .bind(page.after_key())
                    .bind(i64::from(page.limit()))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(__sql_rows::meter).collect()
            }

            async fn set_meter_status(
                &self,
                id: $crate::domain::MeterId,
                status: $crate::domain::MeterStatus,
            ) -> $crate::StoreResult<$crate::domain::Meter> {
                let done = sqlx::query("UPDATE meters SET status = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(status.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::not_found("meter", id));
                }
                self.get_meter(id).await
            }

            async fn assign_meter(
                &self,
                id: $crate::domain::MeterId,
                unit: Option<$crate::domain::UnitId>,
                account: Option<$crate::domain::AccountId>,
            ) -> $crate::StoreResult<$crate::domain::Meter> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                let meter_org = sqlx::query("SELECT organisation_id FROM meters WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(__sql_helpers::plain)?
                    .ok_or_else(|| $crate::StoreError::not_found("meter", id))?;
                let meter_org: $crate::domain::OrganisationId =
                    __sql_helpers::parsed(&meter_org, "meters", "organisation_id")?;
                if let Some(unit) = unit {
                    let r = sqlx::query(
                        "SELECT s.organisation_id AS organisation_id FROM units u \
                         JOIN buildings b ON b.id = u.building_id \
                         JOIN sites s ON s.id = b.site_id WHERE u.id = $1",
                    )
                    .bind(unit.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(__sql_helpers::plain)?
                    .ok_or_else(|| $crate::StoreError::Reference(format!("unit {unit} does not exist")))?;
                    let org: $crate::domain::OrganisationId = __sql_helpers::parsed(&r, "sites", "organisation_id")?;
                    if org != meter_org {
                        return Err($crate::StoreError::Reference(format!(
                            "unit {unit} belongs to another organisation"
                        )));
                    }
                }
                if let Some(account) = account {
                    let r = sqlx::query("SELECT organisation_id FROM accounts WHERE id = $1")
                        .bind(account.to_string())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(__sql_helpers::plain)?
                        .ok_or_else(|| {
                            $crate::StoreError::Reference(format!("account {account} does not exist"))
                        })?;
                    let org: $crate::domain::OrganisationId =
                        __sql_helpers::parsed(&r, "accounts", "organisation_id")?;
                    if org != meter_org {
                        return Err($crate::StoreError::Reference(format!(
                            "account {account} belongs to another organisation"
                        )));
                    }
                }
                sqlx::query("UPDATE meters SET unit_id = $2, account_id = $3 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(unit.map(|u| u.to_string()))
                    .bind(account.map(|a| a.to_string()))
                    .execute(&mut *tx)
                    .await
                    .map_err(__sql_helpers::plain)?;
                tx.commit().await.map_err(__sql_helpers::plain)?;
                self.get_meter(id).await
            }

            async fn set_meter_tariff(
                &self,
                id: $crate::domain::MeterId,
                tariff: Option<&$crate::domain::TariffCode>,
            ) -> $crate::StoreResult<$crate::domain::Meter> {
                let meter = self.get_meter(id).await?;
                if let Some(code) = tariff {
                    let latest = self.latest_tariff(meter.organisation_id, code).await?.ok_or_else(|| {
                        $crate::StoreError::Reference(format!("tariff '{code}' does not exist in the meter's organisation"))
                    })?;
                    if latest.utility != meter.utility {
                        return Err($crate::StoreError::Reference(format!(
                            "tariff '{code}' is for {} meters, not {}",
                            latest.utility, meter.utility
                        )));
                    }
                }
                sqlx::query("UPDATE meters SET tariff_code = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(tariff.map(|c| c.as_str().to_owned()))
                    .execute(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                self.get_meter(id).await
            }

            async fn account_rules(
                &self,
                id: $crate::domain::AccountId,
            ) -> $crate::StoreResult<Option<$crate::domain::balance::BalancePolicy>> {
                __sql_helpers::json_column(&self.pool, "accounts", "balance_rules", "account", &id.to_string()).await
            }

            async fn set_account_rules(
                &self,
                id: $crate::domain::AccountId,
                rules: Option<&$crate::domain::balance::BalancePolicy>,
            ) -> $crate::StoreResult<()> {
                __sql_helpers::set_json_column(&self.pool, "accounts", "balance_rules", "account", &id.to_string(), rules).await
            }

            async fn meter_sharing(
                &self,
                id: $crate::domain::MeterId,
            ) -> $crate::StoreResult<Option<$crate::domain::apportion::SharedGroup>> {
                __sql_helpers::json_column(&self.pool, "meters", "sharing", "meter", &id.to_string()).await
            }

            async fn set_meter_sharing(
                &self,
                id: $crate::domain::MeterId,
                group: Option<&$crate::domain::apportion::SharedGroup>,
            ) -> $crate::StoreResult<()> {
                let meter = self.get_meter(id).await?;
                if let Some(group) = group {
                    for (account, _) in &group.members {
                        let a = self.get_account(*account).await.map_err(|e| match e {
                            $crate::StoreError::NotFound { .. } => $crate::StoreError::Reference(
                                format!("member account {account} does not exist"),
                            ),
                            other => other,
                        })?;
                        if a.organisation_id != meter.organisation_id {
                            return Err($crate::StoreError::Reference(format!(
                                "member account {account} belongs to another organisation"
                            )));
                        }
                    }
                }
                __sql_helpers::set_json_column(&self.pool, "meters", "sharing", "meter", &id.to_string(), group).await
            }

            async fn site_windows(
                &self,
                id: $crate::domain::SiteId,
            ) -> $crate::StoreResult<$crate::domain::balance::ProtectedWindows> {
                let windows = __sql_helpers::json_column(&self.pool, "sites", "protected_windows", "site", &id.to_string()).await?;
                Ok(windows.unwrap_or_default())
            }

            async fn set_site_windows(
                &self,
                id: $crate::domain::SiteId,
                windows: &$crate::domain::balance::ProtectedWindows,
            ) -> $crate::StoreResult<()> {
                __sql_helpers::set_json_column(&self.pool, "sites", "protected_windows", "site", &id.to_string(), Some(windows)).await
            }

            async fn add_tariff_revision(
                &self,
                new: &$crate::domain::NewTariffRevision,
            ) -> $crate::StoreResult<$crate::domain::TariffRevision> {
                let mut tx = __sql_helpers::begin_write(&self.pool).await?;
                let latest = sqlx::query(
                    "SELECT revision, utility FROM tariff_revisions WHERE organisation_id = $1 AND code = $2 \
                     ORDER BY revision DESC LIMIT 1",
                )
                .bind(new.organisation_id.to_string())
                .bind(new.code.as_str())
                .fetch_optional(&mut *tx)
                .await
                .map_err(__sql_helpers::plain)?;
                let revision = match latest {
                    None => 1,
                    Some(r) => {
                        let utility: $crate::domain::Utility = __sql_helpers::parsed(&r, "tariff_revisions", "utility")?;
                        if utility != new.utility {
                            return Err($crate::StoreError::Conflict(format!(
                                "tariff '{}' is a {utility} tariff; a new revision cannot make it {}",
                                new.code, new.utility
                            )));
                        }
                        let last: i64 = __sql_helpers::col(&r, "tariff_revisions", "revision")?;
                        last + 1
                    }
                };
                let row = $crate::domain::TariffRevision {
                    organisation_id: new.organisation_id,
                    code: new.code.clone(),
                    revision,
                    utility: new.utility,
                    name: new.name.clone(),
                    source_toml: new.source_toml.clone(),
                    created_at: jiff::Timestamp::from_millisecond(__sql_helpers::now_ms())
                        .map_err(|e| $crate::StoreError::Backend(e.to_string()))?,
                };
                sqlx::query(
                    "INSERT INTO tariff_revisions (organisation_id, code, revision, utility, name, source_toml, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(row.organisation_id.to_string())
                .bind(row.code.as_str())
                .bind(row.revision)
                .bind(row.utility.as_str())
                .bind(row.name.as_str())
                .bind(row.source_toml.as_str())
                .bind(row.created_at.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("tariff '{}' was revised concurrently; try again", row.code),
                        &format!("organisation {} does not exist", row.organisation_id),
                    )
                })?;
                tx.commit().await.map_err(__sql_helpers::plain)?;
                Ok(row)
            }

            async fn latest_tariff(
                &self,
                org: $crate::domain::OrganisationId,
                code: &$crate::domain::TariffCode,
            ) -> $crate::StoreResult<Option<$crate::domain::TariffRevision>> {
                let sql = format!(
                    "SELECT {} FROM tariff_revisions WHERE organisation_id = $1 AND code = $2 ORDER BY revision DESC LIMIT 1",
                    __sql_rows::TARIFF
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org.to_string())
                    .bind(code.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                row.as_ref().map(__sql_rows::tariff).transpose()
            }

            async fn list_tariffs(
                &self,
                org: $crate::domain::OrganisationId,
            ) -> $crate::StoreResult<Vec<$crate::domain::TariffRevision>> {
                let sql = format!(
                    "SELECT {} FROM tariff_revisions t WHERE organisation_id = $1 AND revision = \
                     (SELECT MAX(revision) FROM tariff_revisions l WHERE l.organisation_id = t.organisation_id AND l.code = t.code) \
                     ORDER BY code",
                    __sql_rows::TARIFF
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(org.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(__sql_rows::tariff).collect()
            }

            async fn create_staff_user(
                &self,
                new: &$crate::domain::NewStaffUser,
            ) -> $crate::StoreResult<$crate::domain::StaffUser> {
                let row = $crate::domain::StaffUser {
                    id: $crate::domain::StaffUserId::new(),
                    organisation_id: new.organisation_id,
                    username: new.username.clone(),
                    display_name: new.display_name.clone(),
                    role: new.role,
                    password_hash: new.password_hash.clone(),
                    active: true,
                    created_at: jiff::Timestamp::from_millisecond(__sql_helpers::now_ms())
                        .map_err(|e| $crate::StoreError::Backend(e.to_string()))?,
                };
                sqlx::query(
                    "INSERT INTO staff_users (id, organisation_id, username, display_name, role, password_hash, active, created_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(row.id.to_string())
                .bind(row.organisation_id.to_string())
                .bind(row.username.as_str())
                .bind(row.display_name.as_str())
                .bind(row.role.as_str())
                .bind(row.password_hash.as_str())
                .bind(row.active)
                .bind(row.created_at.as_millisecond())
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    __sql_helpers::map_err(
                        e,
                        &format!("username '{}' is taken", row.username),
                        &format!("organisation {} does not exist", row.organisation_id),
                    )
                })?;
                Ok(row)
            }

            async fn find_staff_user(
                &self,
                username: &$crate::domain::Username,
            ) -> $crate::StoreResult<Option<$crate::domain::StaffUser>> {
                self.fetch_by("staff_users", __sql_rows::STAFF_USER, "username", username.as_str().to_owned(), __sql_rows::staff_user).await
            }

            async fn set_staff_password(
                &self,
                id: $crate::domain::StaffUserId,
                password_hash: &str,
            ) -> $crate::StoreResult<()> {
                let done = sqlx::query("UPDATE staff_users SET password_hash = $2 WHERE id = $1")
                    .bind(id.to_string())
                    .bind(password_hash)
                    .execute(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::not_found("staff user", id));
                }
                Ok(())
            }

            async fn fleet_counts(&self) -> $crate::StoreResult<$crate::FleetCounts> {
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM organisations) AS organisations, \
                            (SELECT COUNT(*) FROM sites) AS sites, \
                            (SELECT COUNT(*) FROM buildings) AS buildings, \
                            (SELECT COUNT(*) FROM units) AS units, \
                            (SELECT COUNT(*) FROM customers) AS customers, \
                            (SELECT COUNT(*) FROM accounts) AS accounts",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                let mut counts = $crate::FleetCounts {
                    organisations: __sql_helpers::col(&row, "-", "organisations")?,
                    sites: __sql_helpers::col(&row, "-", "sites")?,
                    buildings: __sql_helpers::col(&row, "-", "buildings")?,
                    units: __sql_helpers::col(&row, "-", "units")?,
                    customers: __sql_helpers::col(&row, "-", "customers")?,
                    accounts: __sql_helpers::col(&row, "-", "accounts")?,
                    meters: Vec::new(),
                };
                let rows = sqlx::query(
                    "SELECT utility, status, COUNT(*) AS n FROM meters GROUP BY utility, status ORDER BY utility, status",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                for r in &rows {
                    counts.meters.push((
                        __sql_helpers::parsed(r, "meters", "utility")?,
                        __sql_helpers::parsed(r, "meters", "status")?,
                        __sql_helpers::col(r, "meters", "n")?,
                    ));
                }
                Ok(counts)
            }
        }
    };
}
