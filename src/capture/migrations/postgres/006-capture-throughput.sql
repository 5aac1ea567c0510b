-- Capture that keeps up (docs/capture.md, "Choosing a mode"):
-- * wal mode: the sequencer reads watched tables' committed changes from a logical replication
--   slot (pgoutput) instead of a trigger; capture_wal records the slot position chained so far,
--   written in the same transaction as the chain entries, so a crash replays and never skips.
-- * queued mode: the sequencer sleeps on LISTEN; a writer notifies only while it sleeps
--   (capture_wakeup), because every notifying transaction takes a database-wide lock at commit.
-- * sync mode: a statement-level INSERT trigger with a transition table chains a statement's
--   rows with one sealtrail_chain call, so a multi-row INSERT takes the ledger lock once.

-- The function replacement below is DDL evidence; this install event attributes it to sealtrail.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname IN ('sealtrail_ddl_end', 'sealtrail_ddl_drop')) THEN
    PERFORM sealtrail_chain(ARRAY['sealtrail.capture.install'], ARRAY[NULL::text],
      ARRAY[sealtrail_canon_jsonb(jsonb_build_object('migration', 'capture 006', 'role', session_user::text,
        'txid', pg_current_xact_id()::text))]);
  END IF;
END $$;

ALTER TABLE capture_tables DROP CONSTRAINT capture_tables_mode_check;
ALTER TABLE capture_tables ADD CONSTRAINT capture_tables_mode_check CHECK (mode IN ('sync', 'queued', 'wal'));

-- One row once a table is watched in wal mode: the slot and publication of this ledger (slot
-- names are cluster-wide, so they carry the database and schema oids) and the end LSN of the last
-- transaction whose changes are chained. The slot is advanced to lsn only after that commit.
CREATE TABLE capture_wal (
  id          INT     PRIMARY KEY CHECK (id = 1),
  slot_name   TEXT    NOT NULL,
  publication TEXT    NOT NULL,
  lsn         PG_LSN  NOT NULL DEFAULT '0/0'
);

-- Set by the queued sequencer just before it waits on LISTEN sealtrail_capture, cleared when it wakes.
CREATE TABLE capture_wakeup (
  id       INT     PRIMARY KEY CHECK (id = 1),
  sleeping BOOLEAN NOT NULL DEFAULT false
);
INSERT INTO capture_wakeup (id) VALUES (1);

REVOKE ALL ON capture_wal, capture_wakeup FROM PUBLIC;

-- The capture trigger. Row level (queued, and sync tables watched before this step):
-- AFTER INSERT [OR UPDATE OR DELETE] FOR EACH ROW EXECUTE FUNCTION audit_chain_append(kind, mode, pk...).
-- Statement level (sync, INSERT only: PostgreSQL allows transition tables only on single-event
-- triggers): the same arguments, AFTER INSERT ... REFERENCING NEW TABLE AS sealtrail_new FOR EACH
-- STATEMENT; the statement's rows, in the order it inserted them, are chained exactly as the row
-- trigger would have chained them one by one (same keys, hashes and order), under one lock.
CREATE OR REPLACE FUNCTION audit_chain_append() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_NARGS < 3 THEN
    RAISE EXCEPTION 'audit_chain_append needs (event kind, mode, pk column, ...)';
  END IF;
  IF TG_LEVEL = 'STATEMENT' THEN
    IF TG_OP <> 'INSERT' THEN
      RAISE EXCEPTION 'audit_chain_append runs per statement for INSERT only';
    END IF;
    PERFORM sealtrail_chain_rows(array_agg(TG_ARGV[0]), array_agg(TG_RELID), array_agg(TG_ARGV[2:]::text), array_agg('insert'::text),
      -- `.*`: a whole-row reference even when the table has a column named like the relation.
      array_agg(to_jsonb(sealtrail_new.*)), array_agg(NULL::jsonb))
    FROM sealtrail_new HAVING count(*) > 0;
    RETURN NULL;
  END IF;
  IF TG_ARGV[1] = 'queued' THEN
    IF TG_OP = 'INSERT' THEN
      INSERT INTO capture_outbox (event_kind, relid, pk_columns, op, row_data) VALUES (TG_ARGV[0], TG_RELID, TG_ARGV[2:], 'insert', to_jsonb(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
      INSERT INTO capture_outbox (event_kind, relid, pk_columns, op, row_data, old_data) VALUES (TG_ARGV[0], TG_RELID, TG_ARGV[2:], 'update', to_jsonb(NEW), to_jsonb(OLD));
    ELSE
      INSERT INTO capture_outbox (event_kind, relid, pk_columns, op, old_data) VALUES (TG_ARGV[0], TG_RELID, TG_ARGV[2:], 'delete', to_jsonb(OLD));
    END IF;
    -- Wake a sleeping sequencer. Only while it sleeps: NOTIFY serialises the commits of all
    -- notifying transactions, which a busy writer load must not pay for every row.
    IF (SELECT w.sleeping FROM capture_wakeup w WHERE w.id = 1) THEN
      PERFORM pg_notify('sealtrail_capture', '');
    END IF;
  ELSE
    PERFORM sealtrail_chain_rows(ARRAY[TG_ARGV[0]], ARRAY[TG_RELID], ARRAY[TG_ARGV[2:]::text], ARRAY[lower(TG_OP)],
      ARRAY[CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END], ARRAY[CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END]);
  END IF;
  RETURN NULL;
END $$;

DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION audit_chain_append() SET search_path = %I, pg_catalog, pg_temp', current_schema());
END $$;
