-- Access, audit and integration (issue 6). Twin of the other backend's file.

-- A staff member's site scope: NULL for every site of the organisation,
-- else site ids separated by spaces.
ALTER TABLE staff_users ADD COLUMN site_scope TEXT;

-- Console and portal sessions. The cookie carries a random secret; only its
-- SHA-256 is kept. `id` is public (listing, revocation by an admin).
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('staff', 'customer')),
    -- staff_users.id or customers.id
    subject_id      TEXT NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    csrf_token      TEXT NOT NULL,
    ip              TEXT NOT NULL,
    user_agent      TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    last_seen_at_ms INTEGER NOT NULL,
    -- The absolute end; the idle end is last_seen_at_ms + the idle timeout.
    expires_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER
);
CREATE INDEX sessions_by_subject ON sessions (subject_id);

-- Scoped API tokens for integrations: shown once, kept as SHA-256.
CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    role            TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'finance', 'cashier', 'service_agent', 'technician', 'auditor')),
    site_scope      TEXT,
    created_by      TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER,
    last_used_at_ms INTEGER
);

-- Customer portal logins: account number + password (argon2id).
CREATE TABLE customer_logins (
    account_id     TEXT PRIMARY KEY REFERENCES accounts (id),
    password_hash  TEXT NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);

-- Append-only, hash-chained (yufu_access::audit). Nothing updates or deletes.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at_ms       INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    source      TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    status      INTEGER NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_by_target ON audit_log (target, seq);
CREATE INDEX audit_by_actor ON audit_log (actor, seq);
CREATE INDEX audit_by_time ON audit_log (at_ms, seq);

-- Personal data is sealed (AES-256-GCM, yufu-vault) in the existing columns;
-- the phone number is searchable through a keyed hash (blind index).
ALTER TABLE customers ADD COLUMN phone_index TEXT;
CREATE INDEX customers_by_phone_index ON customers (organisation_id, phone_index);

-- Online payment callbacks, one row per provider transaction (the
-- idempotency of callbacks). status: credited, failed (the provider said
-- so) or refused (Yufu could not credit it: unknown account, closed...).
CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    provider        TEXT NOT NULL,
    transaction_id  TEXT NOT NULL,
    organisation_id TEXT REFERENCES organisations (id),
    account_id      TEXT REFERENCES accounts (id),
    account_number  TEXT NOT NULL,
    amount_fen      INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('credited', 'failed', 'refused')),
    reason          TEXT,
    paid_at_ms      INTEGER NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    UNIQUE (provider, transaction_id)
);
CREATE INDEX payments_by_paid_at ON payments (provider, paid_at_ms);

-- Callbacks refused before they could be trusted (bad signature, stale
-- timestamp, unparsable body): kept for investigation, never credited.
CREATE TABLE payment_rejections (
    id             TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    received_at_ms INTEGER NOT NULL,
    source         TEXT NOT NULL,
    code           TEXT NOT NULL,
    reason         TEXT NOT NULL,
    body_sha256    TEXT NOT NULL
);
CREATE INDEX payment_rejections_by_time ON payment_rejections (received_at_ms);

-- Refunds and reversals wait for a second person's approval; the ledger
-- entry is posted only when approved.
CREATE TABLE refund_requests (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    kind            TEXT NOT NULL CHECK (kind IN ('refund', 'reversal')),
    amount_fen      INTEGER NOT NULL CHECK (amount_fen > 0),
    reason          TEXT NOT NULL,
    -- For a reversal: the idempotency key of the recharge it takes back.
    reverses        TEXT,
    requested_by    TEXT NOT NULL,
    requested_at_ms INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by      TEXT,
    decided_at_ms   INTEGER,
    note            TEXT
);
CREATE INDEX refund_requests_by_status ON refund_requests (organisation_id, status, id);

-- Outbound webhooks. The signing secret is sealed like personal data.
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    active          BOOLEAN NOT NULL,
    created_by      TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id                 TEXT PRIMARY KEY,
    webhook_id         TEXT NOT NULL REFERENCES webhooks (id),
    event              TEXT NOT NULL,
    payload            TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts           INTEGER NOT NULL,
    next_attempt_at_ms INTEGER NOT NULL,
    last_status        INTEGER,
    last_error         TEXT,
    created_at_ms      INTEGER NOT NULL,
    delivered_at_ms    INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at_ms);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, id);

-- How far the webhook feeder has read the engine's journal: events are
-- derived from journal records, and the cursor moves in the same
-- transaction that enqueues their deliveries (no event lost or doubled).
CREATE TABLE webhook_cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    journal_seq INTEGER NOT NULL
);
