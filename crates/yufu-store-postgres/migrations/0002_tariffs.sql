-- Tariffs as operators upload them. Every upload of a tariff code is a new
-- revision; the engine prices with the latest. The TOML text is kept whole:
-- the file is the operator's source of truth, and keeping it lets any later
-- version of the parser read it again. Twin of the other backend's file.
CREATE TABLE tariff_revisions (
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    -- The tariff file's own id, e.g. guangdong-residential-electricity.
    code            TEXT NOT NULL,
    revision        BIGINT NOT NULL CHECK (revision >= 1),
    utility         TEXT NOT NULL CHECK (utility IN ('electricity', 'water', 'gas')),
    name            TEXT NOT NULL,
    source_toml     TEXT NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (organisation_id, code, revision)
);

-- The tariff a meter is priced with (a code of tariff_revisions in the
-- meter's organisation, same utility; checked by the store).
ALTER TABLE meters ADD COLUMN tariff_code TEXT;
