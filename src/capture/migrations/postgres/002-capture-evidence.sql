-- Capture that cannot be switched off unseen (docs/capture.md, "What scan checks").
-- Which tables are watched is chained (sealtrail.capture.watch / .unwatch events, written by
-- src/capture/capture.ts); this step makes the DDL evidence independent of the registry, which
-- an attacker can empty first: a sealtrail trigger dropped, created or altered, and any ALTER of a
-- table that carries the capture trigger, is evidence whether or not capture_tables lists it, and
-- every UPDATE or DELETE of a registry row is chained as well.

-- On an upgrade the statements below are themselves DDL evidence; chaining this step as a
-- sealtrail.capture.install event in the same transaction attributes them to sealtrail.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname IN ('sealtrail_ddl_end', 'sealtrail_ddl_drop')) THEN
    PERFORM sealtrail_chain(ARRAY['sealtrail.capture.install'], ARRAY[NULL::text],
      ARRAY[sealtrail_canon_jsonb(jsonb_build_object('migration', 'capture 002', 'role', session_user::text,
        'txid', pg_current_xact_id()::text))]);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION sealtrail_ddl_evidence() RETURNS EVENT_TRIGGER
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  r RECORD;
  rel OID;
  relevant BOOLEAN;
BEGIN
  IF TG_EVENT = 'sql_drop' THEN
    FOR r IN SELECT * FROM pg_event_trigger_dropped_objects() LOOP
      relevant := (r.object_type = 'table' AND (EXISTS (SELECT 1 FROM capture_tables WHERE relid = r.objid)
                                                OR r.object_name IN ('audit_chain', 'merkle_nodes', 'ledger_head', 'checkpoints', 'capture_outbox', 'capture_tables')))
        OR (r.object_type = 'trigger' AND cardinality(r.address_names) = 3
            AND (r.address_names[3] LIKE 'sealtrail%'
                 OR sealtrail_is_audited(to_regclass(quote_ident(r.address_names[1]) || '.' || quote_ident(r.address_names[2])))))
        OR (r.object_type = 'function' AND (r.object_identity LIKE '%sealtrail%' OR r.object_identity LIKE '%audit_chain_append%'));
      IF relevant THEN
        PERFORM sealtrail_chain_event('sealtrail.ddl', jsonb_build_object('event', TG_EVENT, 'command_tag', TG_TAG,
          'object_type', r.object_type, 'object_identity', r.object_identity));
      END IF;
    END LOOP;
  ELSE
    FOR r IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
      rel := CASE r.classid
        WHEN 'pg_class'::regclass THEN r.objid
        WHEN 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = r.objid)
        ELSE NULL END;
      relevant := sealtrail_is_audited(rel)
        OR (rel IS NOT NULL AND EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = rel AND tgname = 'sealtrail_capture'))
        OR (r.classid = 'pg_trigger'::regclass AND EXISTS (SELECT 1 FROM pg_trigger WHERE oid = r.objid AND tgname LIKE 'sealtrail%'))
        OR (r.classid = 'pg_proc'::regclass AND EXISTS (SELECT 1 FROM pg_proc WHERE oid = r.objid
              AND (proname LIKE 'sealtrail%' OR proname = 'audit_chain_append')));
      IF relevant THEN
        PERFORM sealtrail_chain_event('sealtrail.ddl', jsonb_build_object('event', TG_EVENT, 'command_tag', r.command_tag,
          'object_type', r.object_type, 'object_identity', r.object_identity));
      END IF;
    END LOOP;
  END IF;
END $$;

-- A registry row changed or removed (by unwatch, a re-watch, or anyone else) is chained as
-- evidence in the same transaction.
CREATE FUNCTION sealtrail_registry_evidence() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  PERFORM sealtrail_chain_event('sealtrail.ddl', jsonb_build_object('event', 'capture_tables', 'command_tag', TG_OP,
    'object_type', 'capture registry row', 'object_identity', OLD.event_kind || ' (' || OLD.table_name || ')'));
  RETURN NULL;
END $$;

CREATE TRIGGER sealtrail_registry_evidence AFTER UPDATE OR DELETE ON capture_tables FOR EACH ROW EXECUTE FUNCTION sealtrail_registry_evidence();
ALTER TABLE capture_tables ENABLE ALWAYS TRIGGER sealtrail_registry_evidence;

REVOKE EXECUTE ON FUNCTION sealtrail_registry_evidence() FROM PUBLIC;

DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION sealtrail_ddl_evidence() SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_registry_evidence() SET search_path = %I, pg_catalog, pg_temp', current_schema());
END $$;
