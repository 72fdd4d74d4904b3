-- The web console and the customer portal (PostgreSQL; the SQLite twin has
-- the same file name, tables and columns).

-- Alarms are raised (and cleared, when the condition goes away) by the
-- engine; staff acknowledge them ("seen, someone is on it") and resolve
-- them with a note. Both are kept with who and when.
ALTER TABLE alarms ADD COLUMN acked_at_ms BIGINT;
ALTER TABLE alarms ADD COLUMN acked_by TEXT;
ALTER TABLE alarms ADD COLUMN resolved_at_ms BIGINT;
ALTER TABLE alarms ADD COLUMN resolved_by TEXT;
ALTER TABLE alarms ADD COLUMN resolution_note TEXT;
CREATE INDEX alarms_by_raised ON alarms (raised_at_ms, id);

-- Names are sealed at rest, so search by name goes through a blind index
-- (HMAC of the normalised name), exactly as phone search does.
ALTER TABLE customers ADD COLUMN name_index TEXT;
CREATE INDEX customers_by_name_index ON customers (organisation_id, name_index);

-- Complaints and questions customers submit from the portal, and staff
-- answers. subject and body are sealed (they may hold personal data).
CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    account_id      TEXT REFERENCES accounts (id),
    kind            TEXT NOT NULL CHECK (kind IN ('complaint', 'question')),
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
    reply           TEXT,
    replied_by      TEXT,
    created_at_ms   BIGINT NOT NULL,
    updated_at_ms   BIGINT NOT NULL
);
CREATE INDEX tickets_by_status ON tickets (organisation_id, status, created_at_ms);
CREATE INDEX tickets_by_customer ON tickets (customer_id, created_at_ms);

-- Online recharges started in the portal: the customer is sent to the
-- provider with this id as the order; the provider's signed callback
-- (payments API) credits the account. Kept so the portal can show "paid"
-- and so an order can only pay into the account that started it.
CREATE TABLE payment_orders (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    provider        TEXT NOT NULL,
    amount_fen      BIGINT NOT NULL CHECK (amount_fen > 0),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled')),
    created_at_ms   BIGINT NOT NULL,
    paid_at_ms      BIGINT
);
CREATE INDEX payment_orders_by_account ON payment_orders (account_id, created_at_ms);
