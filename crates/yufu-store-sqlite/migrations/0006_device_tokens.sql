-- Meter connectivity (issue 5). Twin of the other backend's file.

-- MQTT access tokens (ThingsBoard device API: the token is the MQTT
-- username). Only a SHA-256 of the token is kept: the token is shown once
-- when issued. A token names one meter, or (meter_id NULL) a gateway /
-- concentrator that reports for the meters of its organisation by serial.
CREATE TABLE device_tokens (
    token_hash      TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations (id),
    meter_id        TEXT REFERENCES meters (id),
    name            TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER
);
CREATE INDEX device_tokens_by_meter ON device_tokens (meter_id);

-- DL/T 645 / CJ/T 188 meters identify themselves by their communication
-- address (registration packet or read-address reply).
CREATE INDEX meters_by_comm_address ON meters (comm_address);

-- The comm-fault and device-event alarms are looked up by kind.
CREATE INDEX alarms_by_kind ON alarms (kind, id);
