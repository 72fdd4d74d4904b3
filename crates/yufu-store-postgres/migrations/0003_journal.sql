-- The engine's journal, its projections and checkpoints (PostgreSQL). The
-- SQLite twin has the same file name, tables, columns and constraints;
-- only type names differ. Design: yufu_store::journal module docs.
--
-- The hot tables (readings, journal_events, ledger_entries) take hundreds of
-- thousands of rows per second in group commits. So they are append-only,
-- keyed by a number that only grows (appends touch only the right edge of
-- the primary-key b-tree), and carry NO secondary
-- index, UNIQUE constraint or foreign key: any of those costs a random page
-- write or a lookup per row. A meter's readings and an account's entries are
-- found by walking the back pointer (prev_seq / prev_no) from the head the
-- writer keeps. Rare tables keep ordinary indexes.

-- Every reading the engine applied, in journal order (shared seq with
-- journal_events). Replay re-applies them with received_ms as `now`.
CREATE TABLE readings (
    seq          BIGINT PRIMARY KEY,
    meter_id     TEXT NOT NULL,
    at_ms        BIGINT NOT NULL,
    register     BIGINT NOT NULL,
    -- Per-rate registers as JSON ([r1, r2, r3, r4]), if the meter sent them.
    rates        TEXT,
    received_ms  BIGINT NOT NULL,
    verdict      TEXT NOT NULL,
    quantity     BIGINT,
    charge_fen   BIGINT,
    -- The meter's previous reading (seq): the per-meter chain.
    prev_seq     BIGINT
);

-- Every other engine request (recharge, config, command, tick) as JSON, in
-- journal order, so replay reproduces the engine exactly.
CREATE TABLE journal_events (
    seq   BIGINT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    kind  TEXT NOT NULL,
    body  TEXT NOT NULL
);

-- The ledger: every money movement, never updated. `no` is the global append
-- order; `seq` counts 1, 2, 3… per account; prev_no chains an account's
-- entries. Its per-account uniqueness is kept by the single writer, not by
-- an index (see above).
CREATE TABLE ledger_entries (
    no                BIGINT PRIMARY KEY,
    account_id        TEXT NOT NULL,
    seq               BIGINT NOT NULL,
    kind              TEXT NOT NULL,
    amount_fen        BIGINT NOT NULL,
    balance_after_fen BIGINT NOT NULL,
    -- Cause as JSON.
    cause             TEXT NOT NULL,
    idempotency_key   TEXT NOT NULL,
    at_ms             BIGINT NOT NULL,
    -- The journal position of the request that posted it.
    journal_seq       BIGINT NOT NULL,
    prev_no           BIGINT
);

-- Makes a recharge idempotent across restarts: the key a channel sends is
-- looked up here, so this (rare) table keeps its natural primary key.
CREATE TABLE recharges (
    account_id      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    amount_fen      BIGINT NOT NULL,
    channel         TEXT NOT NULL,
    reference       TEXT NOT NULL,
    -- The ledger entry it posted (ledger_entries.no).
    entry_no        BIGINT NOT NULL,
    at_ms           BIGINT NOT NULL,
    PRIMARY KEY (account_id, idempotency_key)
);

-- Meter commands (cut-off, reconnect, …) in their current state: inserted
-- when queued, updated by `no` on every transition. Few rows, so indexed by
-- meter for the meter page.
CREATE TABLE commands (
    no            BIGINT PRIMARY KEY,
    meter_id      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL,
    reason        TEXT NOT NULL,
    queued_at_ms  BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE INDEX commands_by_meter ON commands (meter_id, no);

-- Every state change of a command, kept for ever (the audit trail behind
-- commands.state). id only grows, so it orders a command's transitions.
CREATE TABLE command_transitions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    command_no BIGINT NOT NULL,
    -- NULL for the transition that queued the command.
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    at_ms      BIGINT NOT NULL
);
CREATE INDEX command_transitions_by_command ON command_transitions (command_no, id);

-- Notifications waiting to be sent (customer or staff), written in the same
-- transaction as what caused them, so none is lost or invented by a crash.
CREATE TABLE outbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL for a notification to staff.
    account_id    TEXT,
    kind          TEXT NOT NULL,
    -- The notification as JSON.
    body          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    -- Set by the sender once delivered.
    sent_at_ms    BIGINT
);

-- Things staff should look at (tamper, offline, reverse run, …), per meter.
CREATE TABLE alarms (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id      TEXT NOT NULL,
    kind          TEXT NOT NULL,
    detail        TEXT NOT NULL,
    raised_at_ms  BIGINT NOT NULL,
    -- Set when staff clear it.
    cleared_at_ms BIGINT
);
CREATE INDEX alarms_by_meter ON alarms (meter_id, id);

-- The writer's whole in-memory state as of journal `seq`, so a restart
-- replays only the journal after it. Only the latest is kept.
CREATE TABLE checkpoints (
    seq         BIGINT PRIMARY KEY,
    at_ms       BIGINT NOT NULL,
    chunk_count BIGINT NOT NULL CHECK (chunk_count >= 0)
);

-- A checkpoint in chunks (opaque to the store), so no single value grows
-- with the fleet. Chunks are written one by one before their checkpoint row
-- (which makes them visible), hence no foreign key to it.
CREATE TABLE checkpoint_chunks (
    checkpoint_seq BIGINT NOT NULL,
    chunk_index    BIGINT NOT NULL,
    body           TEXT NOT NULL,
    PRIMARY KEY (checkpoint_seq, chunk_index)
);
