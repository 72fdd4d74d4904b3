-- Public-area meters (公摊表). Twin of the other backend's file.

-- A meter whose charges are split over a group of accounts instead of going
-- to its own account (JSON: {"rule": "area" | "equal" | "usage",
-- "members": [[account_id, weight], …]}, weight = floor area in 0.01 m²
-- for "area"); NULL = an ordinary meter.
ALTER TABLE meters ADD COLUMN sharing TEXT;
