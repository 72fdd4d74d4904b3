-- Operators' overrides of the prepaid rules. Twin of the other backend's file.

-- An account's own balance rules (JSON: {"warnings": [fen, …], "cutoff": fen}),
-- replacing its customer class's default; NULL = the class default.
ALTER TABLE accounts ADD COLUMN balance_rules TEXT;

-- A site's protected windows, during which a cut-off waits (JSON:
-- {"nightly": ["22:00:00", "08:00:00"] | null, "weekends": bool,
-- "holidays": ["2026-10-01", …]}); NULL = none.
ALTER TABLE sites ADD COLUMN protected_windows TEXT;
