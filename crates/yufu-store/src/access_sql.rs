//! The SQL implementation of [`Access`](crate::access::Access), written once
//! and expanded by each backend crate next to `impl_sql_store!` (whose
//! `__sql_helpers` and `__sql_rows` modules it reuses).

/// Expands `impl Access for $store`, see the module docs.
#[macro_export]
macro_rules! impl_sql_access {
    ($store:ty) => {
        mod __access_rows {
            use $crate::access::*;
            use $crate::StoreError;

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

            pub(crate) const SESSION: &str = "id, token_hash, kind, subject_id, organisation_id, csrf_token, ip, user_agent, created_at_ms, last_seen_at_ms, expires_at_ms, revoked_at_ms";
            pub(crate) type SessionTuple = (String, String, String, String, String, String, String, String, i64, i64, i64, Option<i64>);
            pub(crate) fn session(t: SessionTuple) -> Result<SessionRow, StoreError> {
                Ok(SessionRow {
                    id: t.0,
                    token_hash: t.1,
                    kind: match t.2.as_str() {
                        "staff" => SessionKind::Staff,
                        "customer" => SessionKind::Customer,
                        other => {
                            return Err(StoreError::Corrupt {
                                table: "sessions",
                                reason: format!("kind {other}"),
                            })
                        }
                    },
                    subject_id: t.3,
                    organisation_id: parse("sessions", &t.4)?,
                    csrf_token: t.5,
                    ip: t.6,
                    user_agent: t.7,
                    created_at_ms: t.8,
                    last_seen_at_ms: t.9,
                    expires_at_ms: t.10,
                    revoked_at_ms: t.11,
                })
            }

            pub(crate) const TOKEN: &str = "id, token_hash, name, organisation_id, role, site_scope, created_by, created_at_ms, expires_at_ms, revoked_at_ms, last_used_at_ms";
            pub(crate) type TokenTuple = (String, String, String, String, String, Option<String>, String, i64, i64, Option<i64>, Option<i64>);
            pub(crate) fn token(t: TokenTuple) -> Result<ApiTokenRow, StoreError> {
                Ok(ApiTokenRow {
                    id: t.0,
                    token_hash: t.1,
                    name: t.2,
                    organisation_id: parse("api_tokens", &t.3)?,
                    role: parse("api_tokens", &t.4)?,
                    site_scope: t.5,
                    created_by: t.6,
                    created_at_ms: t.7,
                    expires_at_ms: t.8,
                    revoked_at_ms: t.9,
                    last_used_at_ms: t.10,
                })
            }

            pub(crate) const AUDIT: &str = "seq, at_ms, actor, source, action, target, before_json, after_json, status, prev_hash, hash";
            pub(crate) type AuditTuple = (i64, i64, String, String, String, String, Option<String>, Option<String>, i32, String, String);
            pub(crate) fn audit(t: AuditTuple) -> $crate::access::AuditEntry {
                $crate::access::AuditEntry {
                    seq: t.0,
                    at_ms: t.1,
                    actor: t.2,
                    source: t.3,
                    action: t.4,
                    target: t.5,
                    before: t.6,
                    after: t.7,
                    status: t.8,
                    prev_hash: t.9,
                    hash: t.10,
                }
            }

            pub(crate) const PAYMENT: &str = "id, provider, transaction_id, organisation_id, account_id, account_number, amount_fen, status, reason, paid_at_ms, received_at_ms";
            pub(crate) type PaymentTuple = (String, String, String, Option<String>, Option<String>, String, i64, String, Option<String>, i64, i64);
            pub(crate) fn payment(t: PaymentTuple) -> Result<PaymentRow, StoreError> {
                Ok(PaymentRow {
                    id: t.0,
                    provider: t.1,
                    transaction_id: t.2,
                    organisation_id: t.3.map(|v| parse("payments", &v)).transpose()?,
                    account_id: t.4.map(|v| parse("payments", &v)).transpose()?,
                    account_number: t.5,
                    amount_fen: t.6,
                    status: t.7,
                    reason: t.8,
                    paid_at_ms: t.9,
                    received_at_ms: t.10,
                })
            }

            pub(crate) const REFUND: &str = "id, organisation_id, account_id, kind, amount_fen, reason, reverses, requested_by, requested_at_ms, status, decided_by, decided_at_ms, note";
            pub(crate) type RefundTuple = (String, String, String, String, i64, String, Option<String>, String, i64, String, Option<String>, Option<i64>, Option<String>);
            pub(crate) fn refund(t: RefundTuple) -> Result<RefundRequest, StoreError> {
                Ok(RefundRequest {
                    id: t.0,
                    organisation_id: parse("refund_requests", &t.1)?,
                    account_id: parse("refund_requests", &t.2)?,
                    kind: t.3,
                    amount_fen: t.4,
                    reason: t.5,
                    reverses: t.6,
                    requested_by: t.7,
                    requested_at_ms: t.8,
                    status: t.9,
                    decided_by: t.10,
                    decided_at_ms: t.11,
                    note: t.12,
                })
            }

            pub(crate) const WEBHOOK: &str = "id, organisation_id, url, events, secret, active, created_by, created_at_ms";
            pub(crate) type WebhookTuple = (String, String, String, String, String, bool, String, i64);
            pub(crate) fn webhook(t: WebhookTuple) -> Result<WebhookRow, StoreError> {
                Ok(WebhookRow {
                    id: t.0,
                    organisation_id: parse("webhooks", &t.1)?,
                    url: t.2,
                    events: t.3,
                    secret: t.4,
                    active: t.5,
                    created_by: t.6,
                    created_at_ms: t.7,
                })
            }

            pub(crate) const DELIVERY: &str = "id, webhook_id, event, payload, status, attempts, next_attempt_at_ms, last_status, last_error, created_at_ms, delivered_at_ms";
            pub(crate) type DeliveryTuple = (String, String, String, String, String, i32, i64, Option<i32>, Option<String>, i64, Option<i64>);
            pub(crate) fn delivery(t: DeliveryTuple) -> DeliveryRow {
                DeliveryRow {
                    id: t.0,
                    webhook_id: t.1,
                    event: t.2,
                    payload: t.3,
                    status: t.4,
                    attempts: t.5,
                    next_attempt_at_ms: t.6,
                    last_status: t.7,
                    last_error: t.8,
                    created_at_ms: t.9,
                    delivered_at_ms: t.10,
                }
            }
        }

        #[async_trait::async_trait]
        impl $crate::access::Access for $store {
            async fn get_staff_user(
                &self,
                id: $crate::domain::StaffUserId,
            ) -> $crate::StoreResult<$crate::domain::StaffUser> {
                self.fetch_by("staff_users", __sql_rows::STAFF_USER, "id", id.to_string(), __sql_rows::staff_user)
                    .await?
                    .ok_or_else(|| $crate::StoreError::not_found("staff user", id))
            }

            async fn list_staff_users(
                &self,
                org: $crate::domain::OrganisationId,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::domain::StaffUser>> {
                self.list_by("staff_users", __sql_rows::STAFF_USER, "organisation_id", org.to_string(), page, __sql_rows::staff_user).await
            }

            async fn staff_site_scope(
                &self,
                id: $crate::domain::StaffUserId,
            ) -> $crate::StoreResult<Option<String>> {
                let row: Option<(Option<String>,)> =
                    sqlx::query_as("SELECT site_scope FROM staff_users WHERE id = $1")
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(__sql_helpers::plain)?;
                row.map(|r| r.0)
                    .ok_or_else(|| $crate::StoreError::not_found("staff user", id))
            }

            async fn update_staff_user(
                &self,
                id: $crate::domain::StaffUserId,
                role: $crate::domain::Role,
                active: bool,
                site_scope: Option<&str>,
            ) -> $crate::StoreResult<()> {
                let done = sqlx::query(
                    "UPDATE staff_users SET role = $2, active = $3, site_scope = $4 WHERE id = $1",
                )
                .bind(id.to_string())
                .bind(role.as_str())
                .bind(active)
                .bind(site_scope)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::not_found("staff user", id));
                }
                Ok(())
            }

            async fn account_sites(
                &self,
                account: $crate::domain::AccountId,
            ) -> $crate::StoreResult<Vec<$crate::domain::SiteId>> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT DISTINCT b.site_id FROM meters m JOIN units u ON m.unit_id = u.id \
                     JOIN buildings b ON u.building_id = b.id WHERE m.account_id = $1",
                )
                .bind(account.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.iter().map(|r| __access_rows::parse("buildings", &r.0)).collect()
            }

            async fn meter_site(
                &self,
                meter: $crate::domain::MeterId,
            ) -> $crate::StoreResult<Option<$crate::domain::SiteId>> {
                let row: Option<(String,)> = sqlx::query_as(
                    "SELECT b.site_id FROM meters m JOIN units u ON m.unit_id = u.id \
                     JOIN buildings b ON u.building_id = b.id WHERE m.id = $1",
                )
                .bind(meter.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                row.map(|r| __access_rows::parse("buildings", &r.0)).transpose()
            }

            async fn create_session(&self, s: &$crate::access::SessionRow) -> $crate::StoreResult<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO sessions ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    __access_rows::SESSION
                )))
                .bind(&s.id)
                .bind(&s.token_hash)
                .bind(s.kind.as_str())
                .bind(&s.subject_id)
                .bind(s.organisation_id.to_string())
                .bind(&s.csrf_token)
                .bind(&s.ip)
                .bind(&s.user_agent)
                .bind(s.created_at_ms)
                .bind(s.last_seen_at_ms)
                .bind(s.expires_at_ms)
                .bind(s.revoked_at_ms)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(())
            }

            async fn find_session(
                &self,
                token_hash: &str,
            ) -> $crate::StoreResult<Option<$crate::access::SessionRow>> {
                let row: Option<__access_rows::SessionTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM sessions WHERE token_hash = $1",
                    __access_rows::SESSION
                )))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                row.map(__access_rows::session).transpose()
            }

            async fn touch_session(&self, id: &str, at_ms: i64) -> $crate::StoreResult<()> {
                sqlx::query("UPDATE sessions SET last_seen_at_ms = $2 WHERE id = $1 AND last_seen_at_ms < $2")
                    .bind(id)
                    .bind(at_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                Ok(())
            }

            async fn list_sessions(
                &self,
                org: $crate::domain::OrganisationId,
                now_ms: i64,
            ) -> $crate::StoreResult<Vec<$crate::access::SessionRow>> {
                let rows: Vec<__access_rows::SessionTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM sessions WHERE organisation_id = $1 AND revoked_at_ms IS NULL AND expires_at_ms > $2 \
                     ORDER BY created_at_ms DESC LIMIT 1000",
                    __access_rows::SESSION
                )))
                .bind(org.to_string())
                .bind(now_ms)
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.into_iter().map(__access_rows::session).collect()
            }

            async fn revoke_session(&self, id: &str, at_ms: i64) -> $crate::StoreResult<bool> {
                let done = sqlx::query("UPDATE sessions SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL")
                    .bind(id)
                    .bind(at_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected() > 0)
            }

            async fn revoke_sessions_of(&self, subject_id: &str, at_ms: i64) -> $crate::StoreResult<u64> {
                let done = sqlx::query("UPDATE sessions SET revoked_at_ms = $2 WHERE subject_id = $1 AND revoked_at_ms IS NULL")
                    .bind(subject_id)
                    .bind(at_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected())
            }

            async fn create_api_token(&self, t: &$crate::access::ApiTokenRow) -> $crate::StoreResult<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO api_tokens ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    __access_rows::TOKEN
                )))
                .bind(&t.id)
                .bind(&t.token_hash)
                .bind(&t.name)
                .bind(t.organisation_id.to_string())
                .bind(t.role.as_str())
                .bind(&t.site_scope)
                .bind(&t.created_by)
                .bind(t.created_at_ms)
                .bind(t.expires_at_ms)
                .bind(t.revoked_at_ms)
                .bind(t.last_used_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| __sql_helpers::map_err(e, "token already exists", "organisation does not exist"))?;
                Ok(())
            }

            async fn find_api_token(
                &self,
                token_hash: &str,
            ) -> $crate::StoreResult<Option<$crate::access::ApiTokenRow>> {
                let row: Option<__access_rows::TokenTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM api_tokens WHERE token_hash = $1",
                    __access_rows::TOKEN
                )))
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                row.map(__access_rows::token).transpose()
            }

            async fn list_api_tokens(
                &self,
                org: $crate::domain::OrganisationId,
            ) -> $crate::StoreResult<Vec<$crate::access::ApiTokenRow>> {
                let rows: Vec<__access_rows::TokenTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM api_tokens WHERE organisation_id = $1 ORDER BY id LIMIT 1000",
                    __access_rows::TOKEN
                )))
                .bind(org.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.into_iter().map(__access_rows::token).collect()
            }

            async fn revoke_api_token(&self, id: &str, at_ms: i64) -> $crate::StoreResult<bool> {
                let done = sqlx::query("UPDATE api_tokens SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL")
                    .bind(id)
                    .bind(at_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected() > 0)
            }

            async fn touch_api_token(&self, id: &str, at_ms: i64) -> $crate::StoreResult<()> {
                // At most once a minute per token: a busy integration must
                // not turn every request into a write.
                sqlx::query("UPDATE api_tokens SET last_used_at_ms = $2 WHERE id = $1 AND (last_used_at_ms IS NULL OR last_used_at_ms < $2 - 60000)")
                    .bind(id)
                    .bind(at_ms)
                    .execute(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                Ok(())
            }

            async fn set_customer_password(
                &self,
                account: $crate::domain::AccountId,
                password_hash: &str,
                at_ms: i64,
            ) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO customer_logins (account_id, password_hash, updated_at_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (account_id) DO UPDATE SET password_hash = excluded.password_hash, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(account.to_string())
                .bind(password_hash)
                .bind(at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| __sql_helpers::map_err(e, "login exists", &format!("account {account} does not exist")))?;
                Ok(())
            }

            async fn customer_password(
                &self,
                account: $crate::domain::AccountId,
            ) -> $crate::StoreResult<Option<String>> {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT password_hash FROM customer_logins WHERE account_id = $1")
                        .bind(account.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(__sql_helpers::plain)?;
                Ok(row.map(|r| r.0))
            }

            async fn accounts_by_number(
                &self,
                number: &str,
            ) -> $crate::StoreResult<Vec<$crate::domain::Account>> {
                let sql = format!("SELECT {} FROM accounts WHERE number = $1 LIMIT 10", __sql_rows::ACCOUNT);
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(number)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(__sql_rows::account).collect()
            }

            async fn accounts_of_customer(
                &self,
                customer: $crate::domain::CustomerId,
            ) -> $crate::StoreResult<Vec<$crate::domain::Account>> {
                let sql = format!("SELECT {} FROM accounts WHERE customer_id = $1 ORDER BY id LIMIT 100", __sql_rows::ACCOUNT);
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(customer.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                rows.iter().map(__sql_rows::account).collect()
            }

            async fn append_audit(
                &self,
                rows: &[$crate::access::AuditEntry],
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(__sql_helpers::plain)?;
                for e in rows {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO audit_log ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        __access_rows::AUDIT
                    )))
                    .bind(e.seq)
                    .bind(e.at_ms)
                    .bind(&e.actor)
                    .bind(&e.source)
                    .bind(&e.action)
                    .bind(&e.target)
                    .bind(&e.before)
                    .bind(&e.after)
                    .bind(e.status)
                    .bind(&e.prev_hash)
                    .bind(&e.hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| __sql_helpers::map_err(err, "audit row already written (another writer?)", "-"))?;
                }
                tx.commit().await.map_err(__sql_helpers::plain)?;
                Ok(())
            }

            async fn audit_head(&self) -> $crate::StoreResult<Option<(i64, String)>> {
                sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)
            }

            async fn audit_after(
                &self,
                after: i64,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::access::AuditEntry>> {
                let rows: Vec<__access_rows::AuditTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                    __access_rows::AUDIT
                )))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows.into_iter().map(__access_rows::audit).collect())
            }

            async fn search_audit(
                &self,
                f: &$crate::access::AuditFilter,
            ) -> $crate::StoreResult<Vec<$crate::access::AuditEntry>> {
                // Every condition is always present and switched off by a
                // NULL parameter, so the SQL text is fixed (no string
                // building from user input).
                let rows: Vec<__access_rows::AuditTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM audit_log \
                     WHERE ($1 IS NULL OR actor = $1) \
                       AND ($2 IS NULL OR substr(target, 1, length($2)) = $2) \
                       AND ($3 IS NULL OR $3 = '' OR replace(action, $3, '') <> action) \
                       AND ($4 IS NULL OR at_ms >= $4) \
                       AND ($5 IS NULL OR at_ms < $5) \
                       AND ($6 IS NULL OR seq < $6) \
                     ORDER BY seq DESC LIMIT $7",
                    __access_rows::AUDIT
                )))
                .bind(&f.actor)
                .bind(&f.target_prefix)
                // Not LIKE: SQLite's ignores case, PostgreSQL's does not.
                // replace() is case-sensitive on both and has no wildcards.
                .bind(&f.action_contains)
                .bind(f.from_ms)
                .bind(f.to_ms)
                .bind(f.before_seq)
                .bind(i64::from(f.limit.clamp(1, 500)))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows.into_iter().map(__access_rows::audit).collect())
            }

            async fn record_payment(&self, p: &$crate::access::PaymentRow) -> $crate::StoreResult<bool> {
                let done = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO payments ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                     ON CONFLICT (provider, transaction_id) DO NOTHING",
                    __access_rows::PAYMENT
                )))
                .bind(&p.id)
                .bind(&p.provider)
                .bind(&p.transaction_id)
                .bind(p.organisation_id.map(|o| o.to_string()))
                .bind(p.account_id.map(|a| a.to_string()))
                .bind(&p.account_number)
                .bind(p.amount_fen)
                .bind(&p.status)
                .bind(&p.reason)
                .bind(p.paid_at_ms)
                .bind(p.received_at_ms)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected() > 0)
            }

            async fn find_payment(
                &self,
                provider: &str,
                transaction_id: &str,
            ) -> $crate::StoreResult<Option<$crate::access::PaymentRow>> {
                let row: Option<__access_rows::PaymentTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM payments WHERE provider = $1 AND transaction_id = $2",
                    __access_rows::PAYMENT
                )))
                .bind(provider)
                .bind(transaction_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                row.map(__access_rows::payment).transpose()
            }

            async fn list_payments(
                &self,
                provider: &str,
                from_ms: i64,
                to_ms: i64,
            ) -> $crate::StoreResult<Vec<$crate::access::PaymentRow>> {
                let rows: Vec<__access_rows::PaymentTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM payments WHERE provider = $1 AND paid_at_ms >= $2 AND paid_at_ms < $3 \
                     ORDER BY paid_at_ms, transaction_id LIMIT 1000000",
                    __access_rows::PAYMENT
                )))
                .bind(provider)
                .bind(from_ms)
                .bind(to_ms)
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.into_iter().map(__access_rows::payment).collect()
            }

            async fn record_payment_rejection(
                &self,
                r: &$crate::access::PaymentRejection,
            ) -> $crate::StoreResult<()> {
                sqlx::query(
                    "INSERT INTO payment_rejections (id, provider, received_at_ms, source, code, reason, body_sha256) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&r.id)
                .bind(&r.provider)
                .bind(r.received_at_ms)
                .bind(&r.source)
                .bind(&r.code)
                .bind(&r.reason)
                .bind(&r.body_sha256)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(())
            }

            async fn list_payment_rejections(
                &self,
                from_ms: i64,
                to_ms: i64,
            ) -> $crate::StoreResult<Vec<$crate::access::PaymentRejection>> {
                let rows: Vec<(String, String, i64, String, String, String, String)> = sqlx::query_as(
                    "SELECT id, provider, received_at_ms, source, code, reason, body_sha256 FROM payment_rejections \
                     WHERE received_at_ms >= $1 AND received_at_ms < $2 ORDER BY received_at_ms LIMIT 10000",
                )
                .bind(from_ms)
                .bind(to_ms)
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows
                    .into_iter()
                    .map(|t| $crate::access::PaymentRejection {
                        id: t.0,
                        provider: t.1,
                        received_at_ms: t.2,
                        source: t.3,
                        code: t.4,
                        reason: t.5,
                        body_sha256: t.6,
                    })
                    .collect())
            }

            async fn create_refund_request(
                &self,
                r: &$crate::access::RefundRequest,
            ) -> $crate::StoreResult<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO refund_requests ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    __access_rows::REFUND
                )))
                .bind(&r.id)
                .bind(r.organisation_id.to_string())
                .bind(r.account_id.to_string())
                .bind(&r.kind)
                .bind(r.amount_fen)
                .bind(&r.reason)
                .bind(&r.reverses)
                .bind(&r.requested_by)
                .bind(r.requested_at_ms)
                .bind(&r.status)
                .bind(&r.decided_by)
                .bind(r.decided_at_ms)
                .bind(&r.note)
                .execute(&self.pool)
                .await
                .map_err(|e| __sql_helpers::map_err(e, "refund request exists", &format!("account {} does not exist", r.account_id)))?;
                Ok(())
            }

            async fn get_refund_request(&self, id: &str) -> $crate::StoreResult<$crate::access::RefundRequest> {
                let row: Option<__access_rows::RefundTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM refund_requests WHERE id = $1",
                    __access_rows::REFUND
                )))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                row.map(__access_rows::refund)
                    .transpose()?
                    .ok_or_else(|| $crate::StoreError::not_found("refund request", id))
            }

            async fn list_refund_requests(
                &self,
                org: $crate::domain::OrganisationId,
                status: Option<&str>,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::access::RefundRequest>> {
                let rows: Vec<__access_rows::RefundTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM refund_requests WHERE organisation_id = $1 AND ($2 IS NULL OR status = $2) AND id > $3 \
                     ORDER BY id LIMIT $4",
                    __access_rows::REFUND
                )))
                .bind(org.to_string())
                .bind(status)
                .bind(page.after_key())
                .bind(i64::from(page.limit()))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.into_iter().map(__access_rows::refund).collect()
            }

            async fn decide_refund_request(
                &self,
                id: &str,
                status: &str,
                decided_by: &str,
                at_ms: i64,
                note: Option<&str>,
            ) -> $crate::StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE refund_requests SET status = $2, decided_by = $3, decided_at_ms = $4, note = $5 \
                     WHERE id = $1 AND status = 'pending'",
                )
                .bind(id)
                .bind(status)
                .bind(decided_by)
                .bind(at_ms)
                .bind(note)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(done.rows_affected() > 0)
            }

            async fn create_webhook(&self, w: &$crate::access::WebhookRow) -> $crate::StoreResult<()> {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO webhooks ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    __access_rows::WEBHOOK
                )))
                .bind(&w.id)
                .bind(w.organisation_id.to_string())
                .bind(&w.url)
                .bind(&w.events)
                .bind(&w.secret)
                .bind(w.active)
                .bind(&w.created_by)
                .bind(w.created_at_ms)
                .execute(&self.pool)
                .await
                .map_err(|e| __sql_helpers::map_err(e, "webhook exists", "organisation does not exist"))?;
                Ok(())
            }

            async fn list_webhooks(
                &self,
                org: $crate::domain::OrganisationId,
            ) -> $crate::StoreResult<Vec<$crate::access::WebhookRow>> {
                let rows: Vec<__access_rows::WebhookTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM webhooks WHERE organisation_id = $1 ORDER BY id LIMIT 1000",
                    __access_rows::WEBHOOK
                )))
                .bind(org.to_string())
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                rows.into_iter().map(__access_rows::webhook).collect()
            }

            async fn get_webhook(&self, id: &str) -> $crate::StoreResult<$crate::access::WebhookRow> {
                let row: Option<__access_rows::WebhookTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM webhooks WHERE id = $1",
                    __access_rows::WEBHOOK
                )))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                row.map(__access_rows::webhook)
                    .transpose()?
                    .ok_or_else(|| $crate::StoreError::not_found("webhook", id))
            }

            async fn set_webhook_active(&self, id: &str, active: bool) -> $crate::StoreResult<()> {
                let done = sqlx::query("UPDATE webhooks SET active = $2 WHERE id = $1")
                    .bind(id)
                    .bind(active)
                    .execute(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::not_found("webhook", id));
                }
                Ok(())
            }

            async fn webhook_cursor(&self) -> $crate::StoreResult<i64> {
                let row: Option<(i64,)> = sqlx::query_as("SELECT journal_seq FROM webhook_cursor WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(__sql_helpers::plain)?;
                Ok(row.map_or(0, |r| r.0))
            }

            async fn enqueue_deliveries(
                &self,
                rows: &[$crate::access::DeliveryRow],
                cursor: Option<i64>,
            ) -> $crate::StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(__sql_helpers::plain)?;
                for d in rows {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO webhook_deliveries ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                        __access_rows::DELIVERY
                    )))
                    .bind(&d.id)
                    .bind(&d.webhook_id)
                    .bind(&d.event)
                    .bind(&d.payload)
                    .bind(&d.status)
                    .bind(d.attempts)
                    .bind(d.next_attempt_at_ms)
                    .bind(d.last_status)
                    .bind(&d.last_error)
                    .bind(d.created_at_ms)
                    .bind(d.delivered_at_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| __sql_helpers::map_err(e, "delivery exists", "webhook does not exist"))?;
                }
                if let Some(seq) = cursor {
                    sqlx::query(
                        "INSERT INTO webhook_cursor (id, journal_seq) VALUES (1, $1) \
                         ON CONFLICT (id) DO UPDATE SET journal_seq = excluded.journal_seq",
                    )
                    .bind(seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(__sql_helpers::plain)?;
                }
                tx.commit().await.map_err(__sql_helpers::plain)?;
                Ok(())
            }

            async fn due_deliveries(
                &self,
                now_ms: i64,
                limit: u32,
            ) -> $crate::StoreResult<Vec<$crate::access::DeliveryRow>> {
                let rows: Vec<__access_rows::DeliveryTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at_ms <= $1 \
                     ORDER BY next_attempt_at_ms, id LIMIT $2",
                    __access_rows::DELIVERY
                )))
                .bind(now_ms)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows.into_iter().map(__access_rows::delivery).collect())
            }

            async fn update_delivery(&self, d: &$crate::access::DeliveryRow) -> $crate::StoreResult<()> {
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_at_ms = $4, last_status = $5, \
                     last_error = $6, delivered_at_ms = $7 WHERE id = $1",
                )
                .bind(&d.id)
                .bind(&d.status)
                .bind(d.attempts)
                .bind(d.next_attempt_at_ms)
                .bind(d.last_status)
                .bind(&d.last_error)
                .bind(d.delivered_at_ms)
                .execute(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(())
            }

            async fn list_deliveries(
                &self,
                webhook: &str,
                page: &$crate::Page,
            ) -> $crate::StoreResult<Vec<$crate::access::DeliveryRow>> {
                let rows: Vec<__access_rows::DeliveryTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {} FROM webhook_deliveries WHERE webhook_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                    __access_rows::DELIVERY
                )))
                .bind(webhook)
                .bind(page.after_key())
                .bind(i64::from(page.limit()))
                .fetch_all(&self.pool)
                .await
                .map_err(__sql_helpers::plain)?;
                Ok(rows.into_iter().map(__access_rows::delivery).collect())
            }
        }
    };
}
