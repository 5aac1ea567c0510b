-- Alerts still to be inserted into the operator's own alert table (monitor alertTable), per
-- target table: recorded with the alert, marked delivered with the insert, so none is lost.
CREATE TABLE audit_alert_deliveries (
  alert_key    TEXT        NOT NULL,
  target       TEXT        NOT NULL,
  delivered_at TIMESTAMPTZ,
  PRIMARY KEY (alert_key, target)
);
