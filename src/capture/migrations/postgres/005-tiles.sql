-- Merkle storage as C2SP tlog-tiles (ledger migration 002, docs/spec.md "Storage"): sync capture's
-- sealtrail_chain writes merkle_tiles exactly as src/ledger/appender.ts does, the write guards
-- cover merkle_tiles as they covered merkle_nodes, and merkle_nodes goes.
--
-- Order matters because every step below that touches a sealtrail function or an audit table is
-- chained as DDL evidence: the tile helpers (not yet "relevant" names) and the catch-up come
-- first, so that the first event chained by the new sealtrail_chain finds the tiles complete.

-- The perfect subtree over hashes [off, off + cnt) of a tile's bytes (cnt a power of two).
CREATE FUNCTION merkle_tiles_subtree(buf BYTEA, off INT, cnt INT) RETURNS BYTEA
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  a BYTEA[];
BEGIN
  SELECT array_agg(substring(buf FROM (off + g) * 32 + 1 FOR 32) ORDER BY g) INTO a FROM generate_series(0, cnt - 1) AS g;
  WHILE cardinality(a) > 1 LOOP
    SELECT array_agg(sha256('\x01'::bytea || a[2 * g - 1] || a[2 * g]) ORDER BY g) INTO a FROM generate_series(1, cardinality(a) / 2) AS g;
  END LOOP;
  RETURN a[1];
END $$;

-- Appends leaf hashes at leaf index n (the ledger's size before them) to the tiles, as
-- TileEdge.apply does: at each tile level the partial tile at the right edge grows, each tile that
-- fills up is written once and its root goes one level up. Returns the tree's root at the new size,
-- folded from the right-edge tiles (one perfect subtree per set bit of the size, largest first).
CREATE FUNCTION merkle_tiles_append(n BIGINT, leaves BYTEA[]) RETURNS BYTEA
LANGUAGE plpgsql AS $$
DECLARE
  lvl INT := 0;
  cur BYTEA[] := leaves;
  pos BIGINT := n;
  nxt BYTEA[];
  t_idx BIGINT;
  off INT;
  old_w INT;
  buf BYTEA;
  i INT;
  take INT;
  total BIGINT := n + coalesce(cardinality(leaves), 0);
  w INT;
  f BYTEA[] := '{}';
  lf BYTEA[];
  b INT;
  r BYTEA;
BEGIN
  WHILE coalesce(cardinality(cur), 0) > 0 LOOP
    nxt := '{}';
    t_idx := pos / 256;
    off := (pos % 256)::int;
    buf := ''::bytea;
    IF off > 0 THEN
      SELECT t.hashes, t.width INTO buf, old_w FROM merkle_tiles t WHERE t.level = lvl AND t.idx = t_idx;
      IF old_w IS DISTINCT FROM off OR octet_length(buf) <> off * 32 THEN
        RAISE EXCEPTION 'sealtrail: Merkle tile level % index % is missing or not % hashes wide', lvl, t_idx, off;
      END IF;
    END IF;
    i := 1;
    WHILE i <= cardinality(cur) LOOP
      take := least(256 - off, cardinality(cur) - i + 1);
      SELECT buf || string_agg(u.h, ''::bytea ORDER BY u.o) INTO buf FROM unnest(cur[i:i + take - 1]) WITH ORDINALITY AS u(h, o);
      off := off + take;
      INSERT INTO merkle_tiles (level, idx, width, hashes) VALUES (lvl, t_idx, off, buf)
        ON CONFLICT (level, idx) DO UPDATE SET width = EXCLUDED.width, hashes = EXCLUDED.hashes;
      IF off = 256 THEN
        nxt := nxt || merkle_tiles_subtree(buf, 0, 256);
        t_idx := t_idx + 1;
        off := 0;
        buf := ''::bytea;
      END IF;
      i := i + take;
    END LOOP;
    -- The next level's first new hash sits after the tiles this level had filled before.
    pos := pos / 256;
    cur := nxt;
    lvl := lvl + 1;
  END LOOP;
  IF total = 0 THEN
    RETURN sha256(''::bytea);
  END IF;
  lvl := 0;
  WHILE (total >> (8 * lvl)) > 0 LOOP
    w := ((total >> (8 * lvl)) & 255)::int;
    IF w > 0 THEN
      SELECT t.hashes INTO buf FROM merkle_tiles t WHERE t.level = lvl AND t.idx = total >> (8 * (lvl + 1)) AND t.width = w AND octet_length(t.hashes) = w * 32;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'sealtrail: Merkle tile level % index % is missing or not % hashes wide', lvl, total >> (8 * (lvl + 1)), w;
      END IF;
      lf := '{}';
      off := 0;
      FOR b IN REVERSE 7 .. 0 LOOP
        IF (w >> b) & 1 = 1 THEN
          lf := lf || merkle_tiles_subtree(buf, off, 1 << b);
          off := off + (1 << b);
        END IF;
      END LOOP;
      f := lf || f;
    END IF;
    lvl := lvl + 1;
  END LOOP;
  r := f[cardinality(f)];
  FOR i IN REVERSE cardinality(f) - 1 .. 1 LOOP
    r := sha256('\x01'::bytea || f[i] || r);
  END LOOP;
  RETURN r;
END $$;

-- Catch-up: leaves chained since the tiles were built (the first writer's conversion, see
-- src/ledger/tile-conversion.ts), e.g. by the previous sealtrail_chain, go into the tiles now,
-- recomputed from audit_chain like everything else.
DO $$
DECLARE
  covered BIGINT;
  lv BYTEA[];
BEGIN
  SELECT coalesce(max(idx * 256 + width), 0) INTO covered FROM merkle_tiles WHERE level = 0;
  SELECT array_agg(sha256('\x0000'::bytea || int4send(octet_length(convert_to(a.event_kind, 'UTF8'))) || convert_to(a.event_kind, 'UTF8')
                          || int4send(octet_length(convert_to(a.event_pk, 'UTF8'))) || convert_to(a.event_pk, 'UTF8') || a.event_hash
                          || int8send((extract(epoch FROM a.appended_at) * 1000000)::int8)) ORDER BY a.seq) INTO lv
    FROM audit_chain a WHERE a.seq > covered AND a.seq <= (SELECT size FROM ledger_head WHERE id = 1);
  IF lv IS NOT NULL THEN
    PERFORM merkle_tiles_append(covered, lv);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION sealtrail_chain(kinds TEXT[], pks TEXT[], payloads TEXT[], versions TEXT[] DEFAULT NULL) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
  n BIGINT;
  c BYTEA;
  lv BYTEA[];
  total BIGINT;
  ts TIMESTAMPTZ := clock_timestamp();
  ts_bytes BYTEA;
  r BYTEA;
BEGIN
  SELECT size, chain_hash INTO n, c FROM ledger_head WHERE id = 1 FOR UPDATE;
  IF n IS NULL THEN RAISE EXCEPTION 'sealtrail: no ledger_head row'; END IF;
  -- appended_at is hashed to the microsecond and stored exactly as hashed
  ts_bytes := int8send((extract(epoch FROM ts) * 1000000)::int8);
  WITH u AS (
    SELECT uu.o, uu.kd, uu.pk, uu.p, uu.v, sha256(convert_to(uu.p, 'UTF8')) AS ev
    FROM unnest(kinds, pks, payloads, coalesce(versions, array_fill(NULL::text, ARRAY[cardinality(kinds)])))
         WITH ORDINALITY AS uu(kd, pk, p, v, o)),
  x AS (
    SELECT u.*,
           CASE WHEN u.pk IS NOT NULL AND u.v IS NULL
                THEN (SELECT a.event_hash FROM audit_chain a WHERE a.event_kind = u.kd AND a.event_pk = u.pk) END AS existing,
           row_number() OVER w AS rnk, first_value(u.ev) OVER w AS first_ev
    FROM u WINDOW w AS (PARTITION BY u.kd, u.pk, u.v IS NULL ORDER BY u.o)),
  kept AS (
    SELECT x.*, n + row_number() OVER (ORDER BY x.o) AS seq FROM x
    WHERE x.pk IS NULL OR x.v IS NOT NULL OR (x.existing IS NULL AND x.rnk = 1) OR coalesce(x.existing, x.first_ev) <> x.ev),
  named AS (
    SELECT k.seq, k.kd, k.ev, k.p,
           CASE WHEN k.pk IS NULL THEN k.seq::text
                WHEN k.v IS NOT NULL THEN k.pk || k.v || k.seq
                WHEN k.existing IS NOT NULL OR k.rnk > 1 THEN k.pk || '@' || k.seq
                ELSE k.pk END AS pk
    FROM kept k),
  chained AS (
    SELECT nm.*, sealtrail_chain_hash(c, nm.ev, nm.seq) OVER (ORDER BY nm.seq) AS ch FROM named nm),
  ins AS (
    INSERT INTO audit_chain (seq, event_kind, event_pk, event_hash, prev_hash, chain_hash, appended_at, payload)
    SELECT ch.seq, ch.kd, ch.pk, ch.ev, lag(ch.ch, 1, c) OVER (ORDER BY ch.seq), ch.ch, ts, ch.p FROM chained ch
    RETURNING seq, event_kind, event_pk, event_hash, chain_hash),
  leaves AS (
    SELECT i.seq, sha256('\x0000'::bytea || int4send(octet_length(convert_to(i.event_kind, 'UTF8'))) || convert_to(i.event_kind, 'UTF8')
                        || int4send(octet_length(convert_to(i.event_pk, 'UTF8'))) || convert_to(i.event_pk, 'UTF8') || i.event_hash || ts_bytes) AS h
    FROM ins i)
  SELECT n + (SELECT count(*) FROM leaves), coalesce((SELECT i.chain_hash FROM ins i ORDER BY i.seq DESC LIMIT 1), c),
         (SELECT array_agg(l.h ORDER BY l.seq) FROM leaves l) INTO total, c, lv;
  IF total = n THEN
    RETURN n;
  END IF;
  -- The leaves go into the level-0 tile at the right edge, completed tiles' roots up the levels.
  r := merkle_tiles_append(n, lv);
  UPDATE ledger_head SET size = total, chain_hash = c, root = r WHERE id = 1;
  RETURN total;
END $$;


-- This step's DDL evidence is attributed to sealtrail by an install event in the same
-- transaction, chained (unlike earlier steps) after the new sealtrail_chain is in place, so no
-- event of this step goes through the one that wrote merkle_nodes.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname IN ('sealtrail_ddl_end', 'sealtrail_ddl_drop')) THEN
    PERFORM sealtrail_chain(ARRAY['sealtrail.capture.install'], ARRAY[NULL::text],
      ARRAY[sealtrail_canon_jsonb(jsonb_build_object('migration', 'capture 005', 'role', session_user::text,
        'txid', pg_current_xact_id()::text))]);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION sealtrail_is_audited(rel OID) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
  SELECT rel IS NOT NULL AND (EXISTS (SELECT 1 FROM capture_tables WHERE relid = rel)
    OR rel IN (SELECT to_regclass(t)::oid FROM unnest(ARRAY['audit_chain', 'merkle_tiles', 'merkle_nodes', 'ledger_head', 'checkpoints',
                                                          'capture_outbox', 'capture_tables']) AS t))
$$;

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
                                                OR r.object_name IN ('audit_chain', 'merkle_nodes', 'merkle_tiles', 'ledger_head', 'checkpoints', 'capture_outbox', 'capture_tables')))
        OR (r.object_type = 'trigger' AND cardinality(r.address_names) = 3
            AND (r.address_names[3] LIKE 'sealtrail%'
                 OR sealtrail_is_audited(to_regclass(quote_ident(r.address_names[1]) || '.' || quote_ident(r.address_names[2])))))
        OR (r.object_type = 'function' AND (r.object_identity LIKE '%sealtrail%' OR r.object_identity LIKE '%audit_chain_append%'
                                            OR r.object_identity LIKE '%merkle_tiles%'));
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
              AND (proname LIKE 'sealtrail%' OR proname LIKE 'merkle_tiles%' OR proname = 'audit_chain_append')));
      IF relevant THEN
        PERFORM sealtrail_chain_event('sealtrail.ddl', jsonb_build_object('event', TG_EVENT, 'command_tag', r.command_tag,
          'object_type', r.object_type, 'object_identity', r.object_identity));
      END IF;
    END LOOP;
  END IF;
END $$;

-- A tile may only grow while partial (the one UPDATE appends make, through ON CONFLICT): a full
-- tile, a tile's existing hashes, its level and index never change. Other updates are refused
-- unless the session sets sealtrail.maintenance = 'on'; then the statement is chained as a
-- 'sealtrail.maintenance' event once it has run (not from the row trigger: chaining appends to
-- the tile at the right edge, which may be the very row being updated).
CREATE FUNCTION sealtrail_tile_guard() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF NEW.level = OLD.level AND NEW.idx = OLD.idx AND OLD.width < 256 AND NEW.width > OLD.width
     AND substring(NEW.hashes FROM 1 FOR OLD.width * 32) = OLD.hashes THEN
    RETURN NEW;
  END IF;
  IF coalesce(current_setting('sealtrail.maintenance', true), '') <> 'on' THEN
    RAISE EXCEPTION 'sealtrail: % on %.% is refused; audit data is append-only (a tile only grows while partial)', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege', HINT = 'SET sealtrail.maintenance = ''on'' for a recorded maintenance session';
  END IF;
  PERFORM set_config('sealtrail.tile_maintenance', 'pending', true);
  RETURN NEW;
END $$;

CREATE FUNCTION sealtrail_tile_maintenance() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF coalesce(current_setting('sealtrail.tile_maintenance', true), '') = 'pending' THEN
    PERFORM set_config('sealtrail.tile_maintenance', '', true);
    PERFORM sealtrail_chain_event('sealtrail.maintenance', jsonb_build_object('operation', TG_OP, 'table', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER sealtrail_tile_guard BEFORE UPDATE ON merkle_tiles FOR EACH ROW EXECUTE FUNCTION sealtrail_tile_guard();
CREATE TRIGGER sealtrail_tile_maintenance AFTER UPDATE ON merkle_tiles FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_tile_maintenance();
CREATE TRIGGER sealtrail_guard BEFORE DELETE OR TRUNCATE ON merkle_tiles FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard();
ALTER TABLE merkle_tiles ENABLE ALWAYS TRIGGER sealtrail_tile_guard;
ALTER TABLE merkle_tiles ENABLE ALWAYS TRIGGER sealtrail_tile_maintenance;
ALTER TABLE merkle_tiles ENABLE ALWAYS TRIGGER sealtrail_guard;

REVOKE UPDATE, DELETE, TRUNCATE ON merkle_tiles FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION merkle_tiles_append(BIGINT, BYTEA[]), merkle_tiles_subtree(BYTEA, INT, INT),
  sealtrail_tile_guard(), sealtrail_tile_maintenance() FROM PUBLIC;

DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION sealtrail_ddl_evidence() SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_tile_guard() SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_tile_maintenance() SET search_path = %I, pg_catalog, pg_temp', current_schema());
END $$;

-- Nothing reads or writes merkle_nodes any more (its drop is chained as DDL evidence).
DROP TABLE IF EXISTS merkle_nodes;
