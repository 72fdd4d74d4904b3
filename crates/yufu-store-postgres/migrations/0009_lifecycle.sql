-- The device lifecycle (PostgreSQL; the SQLite twin has the same file name,
-- tables and columns): catalogue, suppliers, purchase contracts,
-- deliveries and acceptance, the inventory state machine with its history,
-- certifications, installation plans, commissioning runs, swaps, rollouts
-- and disposals. Dates of the business (due dates, expiry) are civil dates
-- as 'YYYY-MM-DD' text, which sorts and compares as dates.

CREATE TABLE device_models (
    id                  TEXT PRIMARY KEY,
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    maker               TEXT NOT NULL,
    model               TEXT NOT NULL,
    utility             TEXT NOT NULL CHECK (utility IN ('electricity', 'water', 'gas')),
    protocol            TEXT NOT NULL CHECK (protocol IN ('dlt645_2007', 'dlt645_1997', 'cjt188', 'mqtt')),
    phases              BIGINT NOT NULL CHECK (phases IN (1, 3)),
    accuracy_class      TEXT NOT NULL,
    service_life_years  BIGINT NOT NULL CHECK (service_life_years BETWEEN 1 AND 50),
    -- Space-separated: remote_switch, remote_valve, multi_rate, prepaid_card, …
    features            TEXT NOT NULL,
    list_price_fen      BIGINT NOT NULL CHECK (list_price_fen >= 0),
    created_at_ms       BIGINT NOT NULL,
    UNIQUE (organisation_id, maker, model)
);

CREATE TABLE suppliers (
    id                  TEXT PRIMARY KEY,
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    name                TEXT NOT NULL,
    contact_name        TEXT NOT NULL,
    contact_phone       TEXT NOT NULL,
    address             TEXT NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    UNIQUE (organisation_id, name)
);

-- Business licence, metrology licence (计量器具许可), ISO certificates, …
CREATE TABLE supplier_qualifications (
    id                  TEXT PRIMARY KEY,
    supplier_id         TEXT NOT NULL REFERENCES suppliers (id),
    name                TEXT NOT NULL,
    number              TEXT NOT NULL,
    expires_on          TEXT NOT NULL,
    created_at_ms       BIGINT NOT NULL
);
CREATE INDEX supplier_qualifications_by_supplier ON supplier_qualifications (supplier_id, expires_on);

CREATE TABLE contracts (
    id                  TEXT PRIMARY KEY,
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    number              TEXT NOT NULL,
    supplier_id         TEXT NOT NULL REFERENCES suppliers (id),
    status              TEXT NOT NULL CHECK (status IN ('draft', 'approved', 'cancelled')),
    transport_fen       BIGINT NOT NULL CHECK (transport_fen >= 0),
    installation_fen    BIGINT NOT NULL CHECK (installation_fen >= 0),
    commissioning_fen   BIGINT NOT NULL CHECK (commissioning_fen >= 0),
    warranty_months     BIGINT NOT NULL CHECK (warranty_months BETWEEN 0 AND 240),
    after_sales         TEXT NOT NULL,
    created_by          TEXT NOT NULL,
    -- Approval must come from another person holding another role.
    created_by_role     TEXT NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    approved_by         TEXT,
    approved_at_ms      BIGINT,
    UNIQUE (organisation_id, number)
);
CREATE INDEX contracts_by_supplier ON contracts (supplier_id);

CREATE TABLE contract_lines (
    contract_id         TEXT NOT NULL REFERENCES contracts (id),
    line_no             BIGINT NOT NULL CHECK (line_no >= 1),
    model_id            TEXT NOT NULL REFERENCES device_models (id),
    quantity            BIGINT NOT NULL CHECK (quantity >= 1),
    unit_price_fen      BIGINT NOT NULL CHECK (unit_price_fen >= 0),
    delivery_due        TEXT NOT NULL,
    PRIMARY KEY (contract_id, line_no)
);

CREATE TABLE deliveries (
    id                  TEXT PRIMARY KEY,
    contract_id         TEXT NOT NULL REFERENCES contracts (id),
    note_number         TEXT NOT NULL,
    delivered_on        TEXT NOT NULL,
    received_by         TEXT NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    UNIQUE (contract_id, note_number)
);

-- The lifecycle record of a meter. A meter registered without one (the
-- older routes, CSV import, the demo) gets it when first moved, from its
-- meters.status. meters.status is kept as the coarse projection of state.
CREATE TABLE devices (
    meter_id            TEXT PRIMARY KEY REFERENCES meters (id),
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    state               TEXT NOT NULL CHECK (state IN ('ordered', 'received', 'accepted', 'rejected', 'returned', 'in_stock', 'installed', 'commissioned', 'in_service', 'faulty', 'under_repair', 'removed', 'retired', 'scrapped')),
    state_since_ms      BIGINT NOT NULL,
    model_id            TEXT REFERENCES device_models (id),
    contract_id         TEXT REFERENCES contracts (id),
    line_no             BIGINT,
    delivery_id         TEXT REFERENCES deliveries (id),
    -- The delivery day against the line's due day: on-time delivery.
    delivered_on        TEXT,
    accepted_on         TEXT,
    warranty_ends_on    TEXT,
    -- Time in the field, for fault rates per device-year: when it last
    -- went into service, and the time it had in the field before that (ms).
    field_since_ms      BIGINT,
    field_ms_before     BIGINT NOT NULL DEFAULT 0,
    faults              BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX devices_by_state ON devices (organisation_id, state, meter_id);
CREATE INDEX devices_by_delivery ON devices (delivery_id, meter_id);
CREATE INDEX devices_by_contract ON devices (contract_id, line_no);
CREATE INDEX devices_by_model ON devices (model_id);
-- The device register filtered by state: meters.status is the state's
-- projection, so this index finds the candidates of any state.
CREATE INDEX meters_by_status ON meters (organisation_id, status, id);
-- The field devices of an organisation page by meter id (Field::field_devices).
CREATE INDEX devices_by_organisation ON devices (organisation_id, meter_id);

-- Every move of every device: who, when, why. Append-only.
CREATE TABLE device_events (
    id                  TEXT PRIMARY KEY,
    meter_id            TEXT NOT NULL REFERENCES meters (id),
    from_state          TEXT,
    to_state            TEXT NOT NULL,
    action              TEXT NOT NULL,
    actor               TEXT NOT NULL,
    reason              TEXT NOT NULL,
    -- JSON: the check, checklist, commissioning steps, … behind the move.
    detail              TEXT NOT NULL,
    at_ms               BIGINT NOT NULL
);
CREATE INDEX device_events_by_meter ON device_events (meter_id, id);
CREATE INDEX device_events_by_to_state ON device_events (to_state, at_ms);
-- One device's moves into a state (its faults in the last year, when it first
-- went into service): a few rows, not every device's (Field::field_devices).
CREATE INDEX device_events_by_meter_state ON device_events (meter_id, to_state, at_ms);

-- 到货验收: one acceptance check per device.
CREATE TABLE acceptance_checks (
    meter_id            TEXT PRIMARY KEY REFERENCES meters (id),
    appearance_ok       BOOLEAN NOT NULL,
    accessories_ok      BOOLEAN NOT NULL,
    function_ok         BOOLEAN NOT NULL,
    passed              BOOLEAN NOT NULL,
    reason              TEXT NOT NULL,
    checked_by          TEXT NOT NULL,
    checked_at_ms       BIGINT NOT NULL
);

-- 上岗证: who may install which utility's meters, until when.
CREATE TABLE certifications (
    id                  TEXT PRIMARY KEY,
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    staff_user_id       TEXT NOT NULL REFERENCES staff_users (id),
    utility             TEXT NOT NULL CHECK (utility IN ('electricity', 'water', 'gas')),
    number              TEXT NOT NULL,
    issued_on           TEXT NOT NULL,
    expires_on          TEXT NOT NULL,
    revoked_at_ms       BIGINT,
    created_at_ms       BIGINT NOT NULL
);
CREATE INDEX certifications_by_staff ON certifications (staff_user_id, utility);

CREATE TABLE installation_plans (
    id                  TEXT PRIMARY KEY,
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    meter_id            TEXT NOT NULL REFERENCES meters (id),
    unit_id             TEXT NOT NULL REFERENCES units (id),
    site_id             TEXT NOT NULL REFERENCES sites (id),
    account_id          TEXT REFERENCES accounts (id),
    tariff_code         TEXT,
    scheduled_on        TEXT NOT NULL,
    installer_id        TEXT NOT NULL REFERENCES staff_users (id),
    status              TEXT NOT NULL CHECK (status IN ('planned', 'installed', 'cancelled')),
    -- JSON of the last recorded checklist (kept when it failed, too).
    checklist           TEXT,
    opening_reading     BIGINT,
    note                TEXT NOT NULL,
    created_by          TEXT NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    completed_by        TEXT,
    completed_at_ms     BIGINT
);
CREATE INDEX installation_plans_by_status ON installation_plans (organisation_id, status, scheduled_on);
CREATE INDEX installation_plans_by_meter ON installation_plans (meter_id);
CREATE INDEX installation_plans_by_installer ON installation_plans (installer_id, status);
-- At most one planned installation per meter, also when two people plan at once.
CREATE UNIQUE INDEX installation_plans_one_planned ON installation_plans (meter_id) WHERE status = 'planned';

CREATE TABLE commissioning_runs (
    id                  TEXT PRIMARY KEY,
    meter_id            TEXT NOT NULL REFERENCES meters (id),
    outcome             TEXT NOT NULL CHECK (outcome IN ('running', 'passed', 'failed')),
    -- JSON: each step's result.
    steps               TEXT NOT NULL,
    reason              TEXT NOT NULL,
    started_by          TEXT NOT NULL,
    started_at_ms       BIGINT NOT NULL,
    finished_at_ms      BIGINT
);
CREATE INDEX commissioning_runs_by_meter ON commissioning_runs (meter_id, started_at_ms);
-- At most one running commissioning run per meter.
CREATE UNIQUE INDEX commissioning_runs_one_running ON commissioning_runs (meter_id) WHERE outcome = 'running';

-- 数据迁移: the old meter's final reading and the new meter's opening.
CREATE TABLE meter_swaps (
    id                  TEXT PRIMARY KEY,
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    old_meter_id        TEXT NOT NULL REFERENCES meters (id),
    new_meter_id        TEXT NOT NULL REFERENCES meters (id),
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    unit_id             TEXT NOT NULL REFERENCES units (id),
    final_reading       BIGINT NOT NULL,
    opening_reading     BIGINT NOT NULL,
    final_charge_fen    BIGINT NOT NULL,
    rollout_id          TEXT,
    actor               TEXT NOT NULL,
    reason              TEXT NOT NULL,
    at_ms               BIGINT NOT NULL
);
CREATE INDEX meter_swaps_by_old ON meter_swaps (old_meter_id);
CREATE INDEX meter_swaps_by_new ON meter_swaps (new_meter_id);

CREATE TABLE rollouts (
    id                  TEXT PRIMARY KEY,
    organisation_id     TEXT NOT NULL REFERENCES organisations (id),
    name                TEXT NOT NULL,
    -- The model the group is replaced with.
    model_id            TEXT NOT NULL REFERENCES device_models (id),
    -- Waves after the pilot may start only once the pilot is approved.
    pilot_approved_by   TEXT,
    pilot_approved_at_ms BIGINT,
    created_by          TEXT NOT NULL,
    created_at_ms       BIGINT NOT NULL,
    UNIQUE (organisation_id, name)
);

CREATE TABLE rollout_members (
    rollout_id          TEXT NOT NULL REFERENCES rollouts (id),
    meter_id            TEXT NOT NULL REFERENCES meters (id),
    -- 0 is the pilot group; 1, 2, … the waves after it.
    wave                BIGINT NOT NULL CHECK (wave >= 0),
    new_meter_id        TEXT REFERENCES meters (id),
    swapped_at_ms       BIGINT,
    PRIMARY KEY (rollout_id, meter_id)
);
-- A meter is replaced in at most one rollout (Field::rollout_of), also when two
-- rollouts are created at once.
CREATE UNIQUE INDEX rollout_members_one_rollout ON rollout_members (meter_id);

-- 报废处置: how a scrapped device was disposed of.
CREATE TABLE disposals (
    meter_id            TEXT PRIMARY KEY REFERENCES meters (id),
    method              TEXT NOT NULL,
    reason              TEXT NOT NULL,
    record              TEXT NOT NULL,
    disposed_by         TEXT NOT NULL,
    disposed_at_ms      BIGINT NOT NULL
);
