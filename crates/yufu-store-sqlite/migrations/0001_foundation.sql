-- Yufu foundation schema (SQLite). The PostgreSQL twin has the same file name
-- and the same tables, columns and constraints; only type names differ.
--
-- Conventions (docs/MIGRATIONS.md):
--   * ids are UUIDv7 as lower-case TEXT: portable, time-ordered, keyset-pageable;
--   * instants are INTEGER milliseconds since the Unix epoch, UTC (`*_at_ms`);
--   * money is INTEGER (64-bit) fen (`*_fen`), areas INTEGER 0.01 m²: never floats;
--   * enums are TEXT with a CHECK listing the values the domain knows.

CREATE TABLE organisations (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE sites (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    code            TEXT NOT NULL,
    name            TEXT NOT NULL,
    city            TEXT NOT NULL,
    -- IANA zone in which the site's days, months and tariff bands are counted.
    timezone        TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    UNIQUE (organisation_id, code)
);

CREATE TABLE buildings (
    id            TEXT PRIMARY KEY,
    site_id       TEXT NOT NULL REFERENCES sites (id),
    code          TEXT NOT NULL,
    name          TEXT NOT NULL,
    floors        INTEGER NOT NULL CHECK (floors >= 0),
    created_at_ms INTEGER NOT NULL,
    UNIQUE (site_id, code)
);

CREATE TABLE units (
    id             TEXT PRIMARY KEY,
    building_id    TEXT NOT NULL REFERENCES buildings (id),
    code           TEXT NOT NULL,
    floor          INTEGER NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('residential', 'commercial', 'industrial', 'office', 'public', 'other')),
    area_centi_sqm INTEGER NOT NULL CHECK (area_centi_sqm >= 0),
    created_at_ms  INTEGER NOT NULL,
    UNIQUE (building_id, code)
);

-- PERSONAL DATA: name, phone, id_number and address are personal data
-- (yufu_store::PERSONAL_DATA_COLUMNS). The access issue replaces them with
-- AES-256-GCM ciphertext plus a blind index for search.
CREATE TABLE customers (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    kind            TEXT NOT NULL CHECK (kind IN ('person', 'company')),
    name            TEXT NOT NULL,
    phone           TEXT,
    id_number       TEXT,
    address         TEXT,
    created_at_ms   INTEGER NOT NULL
);
CREATE INDEX customers_by_organisation ON customers (organisation_id, id);

-- balance_fen caches the sum of the account's ledger entries (engine issue);
-- nothing but the ledger may change it.
CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    number          TEXT NOT NULL,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    class           TEXT NOT NULL CHECK (class IN ('residential', 'commercial', 'industrial', 'public')),
    status          TEXT NOT NULL CHECK (status IN ('active', 'closed')),
    balance_fen     INTEGER NOT NULL DEFAULT 0,
    created_at_ms   INTEGER NOT NULL,
    UNIQUE (organisation_id, number)
);
CREATE INDEX accounts_by_customer ON accounts (customer_id);

CREATE TABLE meters (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    serial          TEXT NOT NULL,
    utility         TEXT NOT NULL CHECK (utility IN ('electricity', 'water', 'gas')),
    model           TEXT NOT NULL,
    protocol        TEXT NOT NULL CHECK (protocol IN ('dlt645_2007', 'dlt645_1997', 'cjt188', 'mqtt')),
    comm_address    TEXT NOT NULL,
    -- CT ratio x PT ratio (倍率): consumption = register advance x multiplier.
    multiplier      INTEGER NOT NULL CHECK (multiplier >= 1),
    status          TEXT NOT NULL CHECK (status IN ('in_stock', 'installed', 'in_service', 'faulty', 'removed', 'retired')),
    unit_id         TEXT REFERENCES units (id),
    account_id      TEXT REFERENCES accounts (id),
    created_at_ms   INTEGER NOT NULL,
    UNIQUE (organisation_id, serial)
);
CREATE INDEX meters_by_unit ON meters (unit_id);
CREATE INDEX meters_by_account ON meters (account_id);
CREATE INDEX meters_by_organisation_utility ON meters (organisation_id, utility, id);

CREATE TABLE staff_users (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'manager', 'finance', 'cashier', 'service_agent', 'technician', 'auditor')),
    -- argon2id PHC string; never the password.
    password_hash   TEXT NOT NULL,
    active          BOOLEAN NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
