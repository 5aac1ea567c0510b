-- Anchoring: alerts raised by the monitor and publishing, and how far each sink has been served.
CREATE TABLE audit_alerts (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  -- One alert per distinct break: hex SHA-256 of (kind, seq, reason, scope). Also the ledger entry's pk.
  alert_key   TEXT    NOT NULL UNIQUE,
  kind        TEXT    NOT NULL,
  severity    TEXT    NOT NULL CHECK (severity IN ('critical', 'warning')),
  seq         INTEGER,
  event_kind  TEXT,
  event_pk    TEXT,
  reason      TEXT    NOT NULL,
  details     TEXT    NOT NULL DEFAULT '{}',
  detected_at TEXT    NOT NULL
);

-- Per sink: the highest checkpoint id durably published there. A later run publishes every
-- checkpoint after it, so a sink that was down catches up.
CREATE TABLE anchor_sinks (
  sink               TEXT    PRIMARY KEY,
  last_checkpoint_id INTEGER NOT NULL,
  last_published_at  TEXT,
  last_error         TEXT
);
