-- PostgreSQL capture: the canonical row form, the chaining function shared by triggers, the
-- sequencer and backfill, the outbox, the watched-table registry and the write guards.
-- docs/spec.md "Canonical row form (PostgreSQL capture)" defines every byte produced here;
-- src/capture/canonical-row.ts is the independent TypeScript implementation.

CREATE TABLE capture_tables (
  relid       OID         PRIMARY KEY,
  table_name  TEXT        NOT NULL,
  event_kind  TEXT        NOT NULL UNIQUE,
  mode        TEXT        NOT NULL CHECK (mode IN ('sync', 'queued')),
  pk_columns  TEXT[]      NOT NULL CHECK (cardinality(pk_columns) > 0),
  watched_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Queued mode: rows' events as they were at INSERT, written in the writer's transaction without
-- any lock; the sequencer chains and deletes them. Deleting exactly the ids it chained (rather
-- than advancing an id high-water mark) means a row committed out of id order is never skipped.
CREATE TABLE capture_outbox (
  id         BIGSERIAL   PRIMARY KEY,
  event_kind TEXT        NOT NULL,
  event_pk   TEXT        NOT NULL,
  payload    TEXT        NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- Sort key giving RFC 8785 member order (UTF-16 code units) with bytea comparison: UTF-8 bytes
-- order by code point, which differs from UTF-16 order only in that U+E000..U+FFFF must sort
-- after supplementary characters, so those get a 0xF5 prefix (no UTF-8 lead byte is above 0xF4).
CREATE FUNCTION sealtrail_jcs_key_slow(k TEXT) RETURNS BYTEA
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT string_agg(CASE WHEN ascii(c) BETWEEN 57344 AND 65535 THEN '\xf5'::bytea || convert_to(c, 'UTF8')
                         ELSE convert_to(c, 'UTF8') END, ''::bytea ORDER BY o)
  FROM regexp_split_to_table(k, '') WITH ORDINALITY AS s(c, o)
$$;

CREATE FUNCTION sealtrail_jcs_key(k TEXT) RETURNS BYTEA
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN octet_length(k) = char_length(k) THEN convert_to(k, 'UTF8') ELSE sealtrail_jcs_key_slow(k) END
$$;

-- A JSON number as PostgreSQL prints it (no exponent) in canonical form: safe integers and
-- decimals of at most 15 significant digits with 1e-6 <= |x| < 1e21 print exactly as ECMAScript
-- prints the nearest double; any other number becomes {"__numeric__":"<text>"} so nothing is rounded.
CREATE FUNCTION sealtrail_canon_number(t TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  trimmed TEXT := t;
  digits TEXT;
BEGIN
  IF position('.' IN t) > 0 THEN
    trimmed := regexp_replace(t, '\.?0+$', '');
  END IF;
  IF trimmed ~ '^-?[0-9]+$' THEN
    IF abs(trimmed::numeric) <= 9007199254740991 THEN
      RETURN (trimmed::numeric)::text;
    END IF;
  ELSIF trimmed ~ '^-?[0-9]+\.[0-9]+$' THEN
    digits := ltrim(replace(replace(trimmed, '-', ''), '.', ''), '0');
    IF length(digits) <= 15 AND abs(trimmed::numeric) >= 0.000001 AND abs(trimmed::numeric) < 1e21 THEN
      RETURN trimmed;
    END IF;
  END IF;
  RETURN '{"__numeric__":' || to_json(t)::text || '}';
END $$;

-- Canonical JSON (RFC 8785) of a jsonb value.
CREATE FUNCTION sealtrail_canon_jsonb(j JSONB) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  t TEXT := jsonb_typeof(j);
BEGIN
  IF j IS NULL THEN
    RETURN 'null';
  ELSIF t = 'object' THEN
    RETURN '{' || coalesce((SELECT string_agg(to_json(k)::text || ':' || sealtrail_canon_jsonb(v), ',' ORDER BY sealtrail_jcs_key(k))
                            FROM jsonb_each(j) AS e(k, v)), '') || '}';
  ELSIF t = 'array' THEN
    RETURN '[' || coalesce((SELECT string_agg(sealtrail_canon_jsonb(v), ',' ORDER BY o)
                            FROM jsonb_array_elements(j) WITH ORDINALITY AS e(v, o)), '') || ']';
  ELSIF t = 'number' THEN
    RETURN sealtrail_canon_number(j::text);
  END IF;
  -- strings, booleans and null: jsonb prints these exactly as RFC 8785 does
  RETURN j::text;
END $$;

-- The canonical value of one column, from its to_jsonb() form and its type tag
-- (sealtrail_column_tags): int, numeric, float, timestamptz, timestamp, bytea, json or other,
-- with a "[]" suffix for arrays.
CREATE FUNCTION sealtrail_canon_value_slow(v JSONB, tag TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  s TEXT;
  b BYTEA;
BEGIN
  IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
    RETURN 'null';
  END IF;
  IF right(tag, 2) = '[]' THEN
    IF jsonb_typeof(v) <> 'array' THEN
      RETURN sealtrail_canon_value(v, left(tag, -2));
    END IF;
    -- Multi-dimensional arrays are nested arrays; nested levels keep the array tag.
    RETURN '[' || coalesce((SELECT string_agg(sealtrail_canon_value(e, CASE WHEN jsonb_typeof(e) = 'array' THEN tag ELSE left(tag, -2) END), ',' ORDER BY o)
                            FROM jsonb_array_elements(v) WITH ORDINALITY AS x(e, o)), '') || ']';
  END IF;
  CASE tag
    WHEN 'int' THEN
      s := v::text;
      IF abs(s::numeric) <= 9007199254740991 THEN RETURN s; END IF;
      RETURN to_json(s)::text;
    WHEN 'numeric', 'float' THEN
      RETURN to_json(v #>> '{}')::text;
    WHEN 'timestamptz' THEN
      s := v #>> '{}';
      IF s IN ('infinity', '-infinity') THEN RETURN to_json(s)::text; END IF;
      RETURN to_json(to_char(s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text;
    WHEN 'timestamp' THEN
      s := v #>> '{}';
      IF s IN ('infinity', '-infinity') THEN RETURN to_json(s)::text; END IF;
      RETURN to_json(to_char(s::timestamp, 'YYYY-MM-DD"T"HH24:MI:SS.US'))::text;
    WHEN 'bytea' THEN
      s := v #>> '{}';
      b := CASE WHEN left(s, 2) = '\x' THEN decode(substr(s, 3), 'hex') ELSE decode(s, 'escape') END;
      RETURN '{"__bytes__":"' || translate(encode(b, 'base64'), E'\n', '') || '"}';
    ELSE
      RETURN sealtrail_canon_jsonb(v);
  END CASE;
END $$;

CREATE FUNCTION sealtrail_type_tag(typ OID) RETURNS TEXT
LANGUAGE sql STABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE typ
    WHEN 20 THEN 'int' WHEN 21 THEN 'int' WHEN 23 THEN 'int'
    WHEN 1700 THEN 'numeric'
    WHEN 700 THEN 'float' WHEN 701 THEN 'float'
    WHEN 1184 THEN 'timestamptz' WHEN 1114 THEN 'timestamp'
    WHEN 17 THEN 'bytea'
    WHEN 114 THEN 'json' WHEN 3802 THEN 'json'
    -- text, varchar, bpchar, name, bool, uuid, date, time, timetz, oid
    WHEN 25 THEN 'other' WHEN 1043 THEN 'other' WHEN 1042 THEN 'other' WHEN 19 THEN 'other' WHEN 16 THEN 'other'
    WHEN 2950 THEN 'other' WHEN 1082 THEN 'other' WHEN 1083 THEN 'other' WHEN 1266 THEN 'other' WHEN 26 THEN 'other'
    ELSE (SELECT CASE
            WHEN t.typtype = 'd' THEN sealtrail_type_tag(t.typbasetype)
            WHEN t.typcategory = 'A' AND t.typelem <> 0 THEN sealtrail_type_tag(t.typelem) || '[]'
            ELSE 'other' END
          FROM pg_type t WHERE t.oid = typ) END
$$;

-- The common scalar cases as one inlinable expression; the rest in sealtrail_canon_value_slow.
CREATE FUNCTION sealtrail_canon_value(v JSONB, tag TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN v IS NULL OR jsonb_typeof(v) = 'null' THEN 'null'
    WHEN tag = 'int' AND jsonb_typeof(v) = 'number' AND abs(v::numeric) <= 9007199254740991 THEN v::text
    WHEN tag = 'other' AND jsonb_typeof(v) IN ('string', 'boolean') THEN v::text
    WHEN tag IN ('numeric', 'float') AND jsonb_typeof(v) = 'number' THEN to_json(v::text)::text
    ELSE sealtrail_canon_value_slow(v, tag) END
$$;

-- Columns of a table (dropped ones excluded) with their type tags; domains use their base type.
CREATE FUNCTION sealtrail_column_tags(rel OID) RETURNS TABLE (name TEXT, tag TEXT, num INT)
LANGUAGE sql STABLE AS $$
  SELECT a.attname::text, sealtrail_type_tag(a.atttypid), a.attnum::int
  FROM pg_attribute a
  WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;


-- The canonical row (payload) and its event_pk: one key, its value's text (strings unquoted);
-- several keys, the canonical JSON array of their values.
CREATE FUNCTION sealtrail_canonical_row(rel OID, j JSONB, pk_columns TEXT[], OUT payload TEXT, OUT pk TEXT)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  SELECT '{' || string_agg(to_json(c.name)::text || ':' || c.val, ',' ORDER BY c.k) || '}',
         CASE WHEN cardinality(pk_columns) = 1
              THEN CASE WHEN left(max(c.val) FILTER (WHERE c.name = pk_columns[1]), 1) = '"'
                        THEN (max(c.val) FILTER (WHERE c.name = pk_columns[1]))::jsonb #>> '{}'
                        ELSE max(c.val) FILTER (WHERE c.name = pk_columns[1]) END
              ELSE '[' || string_agg(c.val, ',' ORDER BY array_position(pk_columns, c.name)) FILTER (WHERE c.name = ANY (pk_columns)) || ']' END
    INTO payload, pk
  FROM (SELECT t.name, sealtrail_jcs_key(t.name) AS k, sealtrail_canon_value(j -> t.name, t.tag) AS val
        FROM sealtrail_column_tags(rel) t) c;
END $$;

-- Appends events to the ledger exactly as src/ledger/appender.ts does (chain hash, Merkle leaf,
-- completed subtrees, head). Takes the ledger's advisory lock like every other writer. An event
-- whose (kind, pk) is already chained with the same payload is skipped; with a different payload
-- it is chained as pk@seq so nothing is lost. A NULL pk means "use the seq". Returns the new size.
CREATE FUNCTION sealtrail_chain(kinds TEXT[], pks TEXT[], payloads TEXT[]) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
  n BIGINT;
  c BYTEA;
  f BYTEA[];
  fl INT;
  ts TIMESTAMPTZ := clock_timestamp();
  ts_bytes BYTEA;
  i INT;
  k INT := 0;
  m INT := 0;
  seq BIGINT;
  evs BYTEA[];
  existing BYTEA[];
  firsts BYTEA[];
  ranks BIGINT[];
  ev BYTEA;
  h BYTEA;
  idx BIGINT;
  lvl INT;
  pk TEXT;
  kind_b BYTEA;
  pk_b BYTEA;
  e_seq BIGINT[] := '{}'; e_kind TEXT[] := '{}'; e_pk TEXT[] := '{}'; e_ev BYTEA[] := '{}';
  e_prev BYTEA[] := '{}'; e_chain BYTEA[] := '{}'; e_payload TEXT[] := '{}';
  m_level INT[] := '{}'; m_idx BIGINT[] := '{}'; m_hash BYTEA[] := '{}';
  r BYTEA;
BEGIN
  PERFORM pg_advisory_xact_lock(7304041771292001);
  SELECT size, chain_hash INTO n, c FROM ledger_head WHERE id = 1;
  IF n IS NULL THEN RAISE EXCEPTION 'sealtrail: no ledger_head row'; END IF;
  SELECT coalesce(array_agg(mn.hash ORDER BY g.lvl DESC), '{}'), count(*) FILTER (WHERE mn.hash IS NULL)
    INTO f, i
    FROM generate_series(0, 62) AS g(lvl)
    LEFT JOIN merkle_nodes mn ON mn.level = g.lvl AND mn.idx = ((n >> (g.lvl + 1)) << (g.lvl + 1)) >> g.lvl
    WHERE (n >> g.lvl) & 1 = 1;
  IF i > 0 THEN
    RAISE EXCEPTION 'sealtrail: Merkle frontier of size % is incomplete in merkle_nodes', n;
  END IF;
  fl := cardinality(f);
  -- Hashes, already-chained events and duplicates within the batch, set-based.
  SELECT array_agg(x.ev ORDER BY x.o), array_agg(x.existing ORDER BY x.o), array_agg(x.first_ev ORDER BY x.o), array_agg(x.rnk ORDER BY x.o)
    INTO evs, existing, firsts, ranks
    FROM (SELECT u.o, u.ev,
                 (SELECT a.event_hash FROM audit_chain a WHERE a.event_kind = u.kd AND a.event_pk = u.pk) AS existing,
                 row_number() OVER w AS rnk, first_value(u.ev) OVER w AS first_ev
          FROM (SELECT uu.*, sha256(convert_to(uu.p, 'UTF8')) AS ev
                FROM unnest(kinds, pks, payloads) WITH ORDINALITY AS uu(kd, pk, p, o)) u
          WINDOW w AS (PARTITION BY u.kd, u.pk ORDER BY u.o)) x;
  -- appended_at is hashed to the microsecond and stored exactly as hashed
  ts_bytes := int8send((extract(epoch FROM ts) * 1000000)::int8);
  FOR i IN 1 .. coalesce(cardinality(kinds), 0) LOOP
    seq := n + 1;
    ev := evs[i];
    pk := pks[i];
    IF pk IS NULL THEN
      pk := seq::text;
    ELSIF existing[i] IS NOT NULL OR ranks[i] > 1 THEN
      CONTINUE WHEN coalesce(existing[i], firsts[i]) = ev;
      pk := pk || '@' || seq;
    END IF;
    kind_b := convert_to(kinds[i], 'UTF8');
    pk_b := convert_to(pk, 'UTF8');
    h := sha256('\x0000'::bytea || int4send(octet_length(kind_b)) || kind_b || int4send(octet_length(pk_b)) || pk_b || ev || ts_bytes);
    k := k + 1;
    e_seq[k] := seq; e_kind[k] := kinds[i]; e_pk[k] := pk; e_ev[k] := ev; e_prev[k] := c;
    c := sha256(c || ev || int8send(seq));
    e_chain[k] := c;
    e_payload[k] := payloads[i];
    idx := n; lvl := 0;
    m := m + 1; m_level[m] := lvl; m_idx[m] := idx; m_hash[m] := h;
    WHILE idx % 2 = 1 LOOP
      h := sha256('\x01'::bytea || f[fl] || h);
      fl := fl - 1;
      idx := idx / 2;
      lvl := lvl + 1;
      m := m + 1; m_level[m] := lvl; m_idx[m] := idx; m_hash[m] := h;
    END LOOP;
    fl := fl + 1;
    f[fl] := h;
    n := seq;
  END LOOP;
  IF k = 0 THEN
    RETURN n;
  END IF;
  INSERT INTO audit_chain (seq, event_kind, event_pk, event_hash, prev_hash, chain_hash, appended_at, payload)
    SELECT s, kd, p, e, pr, ch, ts, pl FROM unnest(e_seq, e_kind, e_pk, e_ev, e_prev, e_chain, e_payload) AS u(s, kd, p, e, pr, ch, pl);
  INSERT INTO merkle_nodes (level, idx, hash) SELECT * FROM unnest(m_level::int2[], m_idx, m_hash);
  r := f[fl];
  FOR i IN REVERSE fl - 1 .. 1 LOOP
    r := sha256('\x01'::bytea || f[i] || r);
  END LOOP;
  UPDATE ledger_head SET size = n, chain_hash = c, root = r WHERE id = 1;
  RETURN n;
END $$;

-- The capture trigger: AFTER INSERT FOR EACH ROW EXECUTE FUNCTION
-- audit_chain_append('<event kind>', 'sync' | 'queued', '<pk column>', ...).
CREATE FUNCTION audit_chain_append() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  row_form RECORD;
  kind TEXT := TG_ARGV[0];
  mode TEXT := coalesce(TG_ARGV[1], 'sync');
BEGIN
  IF TG_NARGS < 3 THEN
    RAISE EXCEPTION 'audit_chain_append needs (event kind, mode, pk column, ...)';
  END IF;
  SELECT * INTO row_form FROM sealtrail_canonical_row(TG_RELID, to_jsonb(NEW), TG_ARGV[2:]);
  IF mode = 'queued' THEN
    INSERT INTO capture_outbox (event_kind, event_pk, payload) VALUES (kind, row_form.pk, row_form.payload);
  ELSE
    PERFORM sealtrail_chain(ARRAY[kind], ARRAY[row_form.pk], ARRAY[row_form.payload]);
  END IF;
  RETURN NULL;
END $$;

-- Chains up to max_events outbox entries in one transaction and deletes exactly those.
CREATE FUNCTION sealtrail_sequence(max_events INT DEFAULT 10000) RETURNS INT
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  ids BIGINT[];
  kinds TEXT[];
  pks TEXT[];
  payloads TEXT[];
BEGIN
  -- Lock first: the outbox snapshot below is then taken after any other chaining committed.
  PERFORM pg_advisory_xact_lock(7304041771292001);
  SELECT array_agg(id ORDER BY id), array_agg(event_kind ORDER BY id), array_agg(event_pk ORDER BY id), array_agg(payload ORDER BY id)
    INTO ids, kinds, pks, payloads
    FROM (SELECT id, event_kind, event_pk, payload FROM capture_outbox ORDER BY id LIMIT max_events) b;
  IF ids IS NULL THEN
    RETURN 0;
  END IF;
  PERFORM sealtrail_chain(kinds, pks, payloads);
  DELETE FROM capture_outbox WHERE id = ANY (ids);
  RETURN cardinality(ids);
END $$;

-- Chains a maintenance or DDL event (pk = its seq).
CREATE FUNCTION sealtrail_chain_event(kind TEXT, body JSONB) RETURNS VOID
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  PERFORM sealtrail_chain(ARRAY[kind], ARRAY[NULL::text],
    ARRAY[sealtrail_canon_jsonb(body || jsonb_build_object('role', session_user::text, 'query', current_query(),
      'txid', pg_current_xact_id()::text))]);
END $$;

-- DDL evidence: every ALTER, CREATE/DROP TRIGGER, DROP or function replacement touching a watched
-- table, an audit table or a sealtrail function is chained as a 'sealtrail.ddl' event in the same
-- transaction, so switching capture off leaves a record. installCapture creates the event
-- triggers (they need a superuser).
CREATE FUNCTION sealtrail_is_audited(rel OID) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
  SELECT rel IS NOT NULL AND (EXISTS (SELECT 1 FROM capture_tables WHERE relid = rel)
    OR rel IN ('audit_chain'::regclass, 'merkle_nodes'::regclass, 'ledger_head'::regclass, 'checkpoints'::regclass,
               'capture_outbox'::regclass, 'capture_tables'::regclass))
$$;

CREATE FUNCTION sealtrail_ddl_evidence() RETURNS EVENT_TRIGGER
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
            AND sealtrail_is_audited(to_regclass(quote_ident(r.address_names[1]) || '.' || quote_ident(r.address_names[2]))))
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
        OR (r.classid = 'pg_proc'::regclass AND EXISTS (SELECT 1 FROM pg_proc WHERE oid = r.objid
              AND (proname LIKE 'sealtrail%' OR proname = 'audit_chain_append')));
      IF relevant THEN
        PERFORM sealtrail_chain_event('sealtrail.ddl', jsonb_build_object('event', TG_EVENT, 'command_tag', r.command_tag,
          'object_type', r.object_type, 'object_identity', r.object_identity));
      END IF;
    END LOOP;
  END IF;
END $$;

-- Refuses UPDATE, DELETE and TRUNCATE of the audit tables (and TRUNCATE of watched tables) even
-- to their owner, unless the session sets sealtrail.maintenance = 'on'; then the statement is
-- chained as a 'sealtrail.maintenance' event before it runs.
CREATE FUNCTION sealtrail_guard() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF coalesce(current_setting('sealtrail.maintenance', true), '') <> 'on' THEN
    RAISE EXCEPTION 'sealtrail: % on %.% is refused; audit data is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege', HINT = 'SET sealtrail.maintenance = ''on'' for a recorded maintenance session';
  END IF;
  PERFORM sealtrail_chain_event('sealtrail.maintenance', jsonb_build_object('operation', TG_OP, 'table', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME));
  RETURN NULL;
END $$;

CREATE TRIGGER sealtrail_guard BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_chain FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard();
CREATE TRIGGER sealtrail_guard BEFORE UPDATE OR DELETE OR TRUNCATE ON merkle_nodes FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard();
CREATE TRIGGER sealtrail_guard BEFORE DELETE OR TRUNCATE ON ledger_head FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard();
CREATE TRIGGER sealtrail_guard BEFORE UPDATE OR DELETE OR TRUNCATE ON checkpoints FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard();
CREATE TRIGGER sealtrail_guard BEFORE TRUNCATE ON capture_tables FOR EACH STATEMENT EXECUTE FUNCTION sealtrail_guard();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_chain, merkle_nodes, checkpoints FROM PUBLIC;
REVOKE ALL ON capture_outbox, capture_tables FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION sealtrail_chain(TEXT[], TEXT[], TEXT[]), sealtrail_sequence(INT), sealtrail_chain_event(TEXT, JSONB),
  audit_chain_append(), sealtrail_guard(), sealtrail_ddl_evidence() FROM PUBLIC;

-- SECURITY DEFINER functions resolve names only in the schema they were installed into.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION audit_chain_append() SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_sequence(INT) SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_chain_event(TEXT, JSONB) SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_guard() SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_ddl_evidence() SET search_path = %I, pg_catalog, pg_temp', current_schema());
END $$;
