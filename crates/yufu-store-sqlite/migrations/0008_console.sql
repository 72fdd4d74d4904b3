-- The web console and the customer portal (SQLite; the PostgreSQL twin has
-- the same file name, tables and columns).

-- Alarms are raised (and cleared, when the condition goes away) by the
-- engine; staff acknowledge them ("seen, someone is on it") and resolve
-- them with a note. Both are kept with who and when.
ALTER TABLE alarms ADD COLUMN acked_at_ms INTEGER;
ALTER TABLE alarms ADD COLUMN acked_by TEXT;
ALTER TABLE alarms ADD COLUMN resolved_at_ms INTEGER;
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
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
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
    amount_fen      INTEGER NOT NULL CHECK (amount_fen > 0),
    status          TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled')),
    created_at_ms   INTEGER NOT NULL,
    paid_at_ms      INTEGER
);
CREATE INDEX payment_orders_by_account ON payment_orders (account_id, created_at_ms);

-- The account page lists an account's recharges newest first, paged by
-- their ledger entry.
CREATE INDEX recharges_by_entry ON recharges (account_id, entry_no);

-- The portal lists an account's notifications (the engine's outbox), newest
-- first.
CREATE INDEX outbox_by_account ON outbox (account_id, id);

-- Alarm handling (console alarms page, POST /api/v1/alarms/{id}/…): a
-- note may come with an acknowledgement ("technician on the way").
ALTER TABLE alarms ADD COLUMN ack_note TEXT;
-- The alarms page lists newest first (by id) and filters by state, kind,
-- meter and site, at a million meters with years of alarms. Open alarms
-- (the default view) are few among many closed ones: a partial index keeps
-- them a short walk (a rare kind has its (kind, id) range already,
-- alarms_by_kind in 0006; one meter has alarms_by_meter).
CREATE INDEX alarms_open ON alarms (id) WHERE cleared_at_ms IS NULL AND resolved_at_ms IS NULL;
-- Alarms carry their meter's site, so a site-scoped person's list reads one
-- index range per site instead of walking site -> buildings -> units ->
-- meters (10 000 meters a site at a million) for every page. Triggers keep
-- it, so the engine's journal writes need not know: set when an alarm is
-- raised, moved with the meter when it is installed in another unit.
ALTER TABLE alarms ADD COLUMN site_id TEXT;
UPDATE alarms SET site_id = (
    SELECT b.site_id FROM meters m JOIN units u ON u.id = m.unit_id
    JOIN buildings b ON b.id = u.building_id WHERE m.id = alarms.meter_id);
CREATE INDEX alarms_by_site ON alarms (site_id, id);
CREATE INDEX alarms_open_by_site ON alarms (site_id, id) WHERE cleared_at_ms IS NULL AND resolved_at_ms IS NULL;
CREATE TRIGGER alarms_site_on_raise AFTER INSERT ON alarms
BEGIN
    UPDATE alarms SET site_id = (
        SELECT b.site_id FROM meters m JOIN units u ON u.id = m.unit_id
        JOIN buildings b ON b.id = u.building_id WHERE m.id = NEW.meter_id)
    WHERE id = NEW.id;
END;
CREATE TRIGGER alarms_site_on_move AFTER UPDATE OF unit_id ON meters
WHEN OLD.unit_id IS NOT NEW.unit_id
BEGIN
    UPDATE alarms SET site_id = (
        SELECT b.site_id FROM units u JOIN buildings b ON b.id = u.building_id
        WHERE u.id = NEW.unit_id)
    WHERE meter_id = NEW.id;
END;
-- The users page lists live sessions (not expired) newest first without
-- reading the expired ones, which are never deleted.
CREATE INDEX sessions_live ON sessions (organisation_id, expires_at_ms, id);

-- An organisation's meters in id order (keyset pages of the meter list, and
-- the engine loading every meter at start-up): without it a page at a
-- million meters sorts the whole organisation (seconds per page).
CREATE INDEX meters_by_organisation ON meters (organisation_id, id);
