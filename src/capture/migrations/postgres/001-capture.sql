-- PostgreSQL capture: the canonical row form and chaining used by sync-mode triggers and by
-- DDL/maintenance evidence, the outbox (queued mode; the sequencer and backfill in
-- src/capture/capture.ts canonicalise and chain in TypeScript), the watched-table registry and
-- the write guards.
-- docs/spec.md "Canonical row form (PostgreSQL capture)" defines every byte produced here;
-- src/capture/canonical-row.ts is the independent TypeScript implementation.

CREATE TABLE capture_tables (
  relid       OID         PRIMARY KEY,
  table_name  TEXT        NOT NULL,
  event_kind  TEXT        NOT NULL UNIQUE,
  mode        TEXT        NOT NULL CHECK (mode IN ('sync', 'queued')),
  pk_columns  TEXT[]      NOT NULL CHECK (cardinality(pk_columns) > 0),
  -- opt-in: UPDATE and DELETE of a row are chained as their own events (row versions)
  updates     BOOLEAN     NOT NULL DEFAULT false,
  deletes     BOOLEAN     NOT NULL DEFAULT false,
  watched_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Queued mode: what the sequencer needs to build each event later, copied in the writer's
-- transaction without any lock and without computing anything: the row as to_jsonb() prints it
-- (NEW for insert/update, OLD for update/delete), its table and key columns. The sequencer
-- canonicalises, chains and deletes them. Deleting exactly the ids it chained (rather than
-- advancing an id high-water mark) means a row committed out of id order is never skipped.
CREATE TABLE capture_outbox (
  id         BIGSERIAL   PRIMARY KEY,
  event_kind TEXT        NOT NULL,
  relid      OID         NOT NULL,
  pk_columns TEXT[]      NOT NULL,
  op         TEXT        NOT NULL CHECK (op IN ('insert', 'update', 'delete')),
  row_data   JSONB,
  old_data   JSONB,
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
-- STABLE (not IMMUTABLE) so the planner may inline it with the timestamptz cast inside: the
-- to_jsonb text always carries its offset, so the session's TimeZone cannot change the result.
CREATE FUNCTION sealtrail_canon_value(v JSONB, tag TEXT) RETURNS TEXT
LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN v IS NULL OR jsonb_typeof(v) = 'null' THEN 'null'
    WHEN tag = 'int' AND jsonb_typeof(v) = 'number' AND abs(v::numeric) <= 9007199254740991 THEN v::text
    WHEN tag = 'other' AND jsonb_typeof(v) IN ('string', 'boolean') THEN v::text
    WHEN tag IN ('numeric', 'float') AND jsonb_typeof(v) = 'number' THEN to_json(v::text)::text
    WHEN tag = 'timestamptz' AND jsonb_typeof(v) = 'string' AND v #>> '{}' NOT IN ('infinity', '-infinity')
      THEN to_json(to_char((v #>> '{}')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
    ELSE sealtrail_canon_value_slow(v, tag) END
$$;

-- Columns of a table (dropped ones excluded) with their type tags; domains use their base type.
CREATE FUNCTION sealtrail_column_tags(rel OID) RETURNS TABLE (name TEXT, tag TEXT, num INT)
LANGUAGE sql STABLE AS $$
  SELECT a.attname::text, sealtrail_type_tag(a.atttypid), a.attnum::int
  FROM pg_attribute a
  WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$$;


-- Canonical rows (payload) and their event_pk, set-based: one output row per input row (o = its
-- position). pk_cols[i] is the text form of the row's key column array. event_pk: one key, its
-- value's text (strings unquoted); several keys, the canonical JSON array of their values.
CREATE FUNCTION sealtrail_canonical_rows(rels OID[], pk_cols TEXT[], rws JSONB[])
RETURNS TABLE (o BIGINT, payload TEXT, pk TEXT)
LANGUAGE sql STABLE AS $$
  WITH e AS (SELECT u.o, u.rel, u.pkc::text[] AS pkc, u.j FROM unnest(rels, pk_cols, rws) WITH ORDINALITY AS u(rel, pkc, j, o)),
  t AS MATERIALIZED (SELECT r.rel, c.name, c.tag, sealtrail_jcs_key(c.name) AS k
                     FROM (SELECT DISTINCT e.rel FROM e) r CROSS JOIN LATERAL sealtrail_column_tags(r.rel) c),
  cells AS (
    SELECT e.o, e.pkc, t.name, t.k, sealtrail_canon_value(e.j -> t.name, t.tag) AS val FROM e JOIN t ON t.rel = e.rel
    UNION ALL
    -- A table dropped before its queued rows were sequenced: the row's own members, as plain JSON.
    SELECT e.o, e.pkc, x.key, sealtrail_jcs_key(x.key), sealtrail_canon_jsonb(x.value)
    FROM e CROSS JOIN LATERAL jsonb_each(e.j) AS x WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.rel = e.rel))
  SELECT c.o,
         '{' || string_agg(to_json(c.name)::text || ':' || c.val, ',' ORDER BY c.k) || '}',
         CASE WHEN cardinality(c.pkc) = 1
              THEN CASE WHEN left(max(c.val) FILTER (WHERE c.name = c.pkc[1]), 1) = '"'
                        THEN (max(c.val) FILTER (WHERE c.name = c.pkc[1]))::jsonb #>> '{}'
                        ELSE max(c.val) FILTER (WHERE c.name = c.pkc[1]) END
              ELSE '[' || string_agg(c.val, ',' ORDER BY array_position(c.pkc, c.name)) FILTER (WHERE c.name = ANY (c.pkc)) || ']' END
  FROM cells c GROUP BY c.o, c.pkc
$$;

-- Sequential part of chaining, as an aggregate used as a running window:
-- chain_hash(seq) = SHA-256(chain_hash(seq - 1) || event_hash || int8(seq)).
CREATE FUNCTION sealtrail_chain_step(state BYTEA, prev BYTEA, ev BYTEA, seq BIGINT) RETURNS BYTEA
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT sha256(coalesce(state, prev) || ev || int8send(seq))
$$;
CREATE AGGREGATE sealtrail_chain_hash(BYTEA, BYTEA, BIGINT) (SFUNC = sealtrail_chain_step, STYPE = BYTEA);

-- Appends events to the ledger exactly as src/ledger/appender.ts does (chain hash, Merkle leaf,
-- completed subtrees, head), set-based. Takes the ledger's advisory lock like every other writer.
-- An event whose (kind, pk) is already chained with the same payload is skipped; with a different
-- payload it is chained as pk@seq so nothing is lost. A NULL pk means "use the seq"; a non-NULL
-- version (e.g. '#update@') makes the pk pk || version || seq and is never skipped.
-- Returns the new size.
CREATE FUNCTION sealtrail_chain(kinds TEXT[], pks TEXT[], payloads TEXT[], versions TEXT[] DEFAULT NULL) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
  n BIGINT;
  c BYTEA;
  f BYTEA[];
  missing INT;
  total BIGINT;
  ts TIMESTAMPTZ := clock_timestamp();
  ts_bytes BYTEA;
  lvl INT;
  r BYTEA;
BEGIN
  PERFORM pg_advisory_xact_lock(7304041771292001);
  SELECT size, chain_hash INTO n, c FROM ledger_head WHERE id = 1;
  IF n IS NULL THEN RAISE EXCEPTION 'sealtrail: no ledger_head row'; END IF;
  SELECT count(*) FILTER (WHERE mn.hash IS NULL) INTO missing
    FROM generate_series(0, 62) AS g(lvl)
    LEFT JOIN merkle_nodes mn ON mn.level = g.lvl AND mn.idx = (n >> g.lvl) - 1
    WHERE (n >> g.lvl) & 1 = 1;
  IF missing > 0 THEN
    RAISE EXCEPTION 'sealtrail: Merkle frontier of size % is incomplete in merkle_nodes', n;
  END IF;
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
    INSERT INTO merkle_nodes (level, idx, hash)
    SELECT 0, i.seq - 1, sha256('\x0000'::bytea || int4send(octet_length(convert_to(i.event_kind, 'UTF8'))) || convert_to(i.event_kind, 'UTF8')
                               || int4send(octet_length(convert_to(i.event_pk, 'UTF8'))) || convert_to(i.event_pk, 'UTF8') || i.event_hash || ts_bytes)
    FROM ins i
    RETURNING idx)
  SELECT n + (SELECT count(*) FROM leaves), coalesce((SELECT i.chain_hash FROM ins i ORDER BY i.seq DESC LIMIT 1), c) INTO total, c;
  IF total = n THEN
    RETURN n;
  END IF;
  -- Completed subtrees, one level at a time: node (lvl + 1, p) = H(0x01 || (lvl, 2p) || (lvl, 2p + 1)).
  lvl := 0;
  WHILE (total >> (lvl + 1)) > (n >> (lvl + 1)) LOOP
    INSERT INTO merkle_nodes (level, idx, hash)
    SELECT lvl + 1, g.p, sha256('\x01'::bytea || l.hash || rt.hash)
    FROM generate_series(n >> (lvl + 1), (total >> (lvl + 1)) - 1) AS g(p)
    JOIN merkle_nodes l ON l.level = lvl AND l.idx = 2 * g.p
    JOIN merkle_nodes rt ON rt.level = lvl AND rt.idx = 2 * g.p + 1;
    lvl := lvl + 1;
  END LOOP;
  SELECT array_agg(mn.hash ORDER BY g.lvl DESC) INTO f
    FROM generate_series(0, 62) AS g(lvl)
    JOIN merkle_nodes mn ON mn.level = g.lvl AND mn.idx = (total >> g.lvl) - 1
    WHERE (total >> g.lvl) & 1 = 1;
  r := f[cardinality(f)];
  FOR i IN REVERSE cardinality(f) - 1 .. 1 LOOP
    r := sha256('\x01'::bytea || f[i] || r);
  END LOOP;
  UPDATE ledger_head SET size = total, chain_hash = c, root = r WHERE id = 1;
  RETURN total;
END $$;

-- Builds the events of captured rows and chains them, in input order. Per entry: the watch's
-- kind, the table, its key columns (text form of the array), the operation and the row's
-- to_jsonb() after (NEW) and before (OLD). An insert chains NEW under its pk; an update chains NEW
-- as pk#update@seq (and, when the key changed, OLD's key as a delete first); a delete chains OLD
-- as pk#delete@seq. Returns the new ledger size.
CREATE FUNCTION sealtrail_chain_rows(kinds TEXT[], rels OID[], pk_cols TEXT[], ops TEXT[], rws JSONB[], olds JSONB[]) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
  e_kd TEXT[]; e_rel OID[]; e_pkc TEXT[]; e_op TEXT[]; e_sub INT[]; e_o BIGINT[]; e_j JSONB[];
  c_payload TEXT[]; c_pk TEXT[];
  k TEXT[];
  p TEXT[];
  pl TEXT[];
  v TEXT[];
BEGIN
  -- Entries in order: OLD (sub 0) before NEW (sub 1) of each input row; canonical forms are
  -- aggregated back into arrays in that same order and zipped, so nothing needs a join.
  SELECT array_agg(e.kd ORDER BY e.eo), array_agg(e.rel ORDER BY e.eo), array_agg(e.pkc ORDER BY e.eo), array_agg(e.op ORDER BY e.eo),
         array_agg(e.sub ORDER BY e.eo), array_agg(e.o ORDER BY e.eo), array_agg(e.j ORDER BY e.eo)
    INTO e_kd, e_rel, e_pkc, e_op, e_sub, e_o, e_j
  FROM (SELECT u.o * 2 + 1 AS eo, u.o, 1 AS sub, u.kd, u.rel, u.pkc, u.op, u.j
        FROM unnest(kinds, rels, pk_cols, ops, rws) WITH ORDINALITY AS u(kd, rel, pkc, op, j, o) WHERE u.j IS NOT NULL
        UNION ALL
        SELECT u.o * 2, u.o, 0, u.kd, u.rel, u.pkc, u.op, u.j
        FROM unnest(kinds, rels, pk_cols, ops, olds) WITH ORDINALITY AS u(kd, rel, pkc, op, j, o) WHERE u.j IS NOT NULL AND u.op <> 'insert') e;
  SELECT array_agg(cc.payload ORDER BY cc.o), array_agg(cc.pk ORDER BY cc.o) INTO c_payload, c_pk
  FROM sealtrail_canonical_rows(e_rel, e_pkc, e_j) cc;
  SELECT array_agg(x.kd ORDER BY x.i), array_agg(x.pk ORDER BY x.i), array_agg(x.payload ORDER BY x.i),
         array_agg(CASE WHEN x.op = 'insert' THEN NULL WHEN x.sub = 0 THEN '#delete@' ELSE '#update@' END ORDER BY x.i)
    INTO k, p, pl, v
  FROM (SELECT z.*, lead(z.pk) OVER (ORDER BY z.i) AS next_pk, lead(z.o) OVER (ORDER BY z.i) AS next_o
        FROM unnest(e_kd, e_op, e_sub, e_o, c_payload, c_pk) WITH ORDINALITY AS z(kd, op, sub, o, payload, pk, i)) x
  -- an update whose key is unchanged is just its new version
  WHERE NOT (x.op = 'update' AND x.sub = 0 AND x.next_o = x.o AND x.pk IS NOT DISTINCT FROM x.next_pk);
  IF k IS NULL THEN
    RETURN (SELECT size FROM ledger_head WHERE id = 1);
  END IF;
  RETURN sealtrail_chain(k, p, pl, v);
END $$;

-- The capture trigger: AFTER INSERT [OR UPDATE OR DELETE] FOR EACH ROW EXECUTE FUNCTION
-- audit_chain_append('<event kind>', 'sync' | 'queued', '<pk column>', ...). Queued mode does no
-- work beyond copying the row into the outbox, so the writer's transaction stays cheap.
CREATE FUNCTION audit_chain_append() RETURNS TRIGGER
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_NARGS < 3 THEN
    RAISE EXCEPTION 'audit_chain_append needs (event kind, mode, pk column, ...)';
  END IF;
  IF TG_ARGV[1] = 'queued' THEN
    IF TG_OP = 'INSERT' THEN
      INSERT INTO capture_outbox (event_kind, relid, pk_columns, op, row_data) VALUES (TG_ARGV[0], TG_RELID, TG_ARGV[2:], 'insert', to_jsonb(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
      INSERT INTO capture_outbox (event_kind, relid, pk_columns, op, row_data, old_data) VALUES (TG_ARGV[0], TG_RELID, TG_ARGV[2:], 'update', to_jsonb(NEW), to_jsonb(OLD));
    ELSE
      INSERT INTO capture_outbox (event_kind, relid, pk_columns, op, old_data) VALUES (TG_ARGV[0], TG_RELID, TG_ARGV[2:], 'delete', to_jsonb(OLD));
    END IF;
  ELSE
    PERFORM sealtrail_chain_rows(ARRAY[TG_ARGV[0]], ARRAY[TG_RELID], ARRAY[TG_ARGV[2:]::text], ARRAY[lower(TG_OP)],
      ARRAY[CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE to_jsonb(NEW) END], ARRAY[CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE to_jsonb(OLD) END]);
  END IF;
  RETURN NULL;
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
REVOKE EXECUTE ON FUNCTION sealtrail_chain(TEXT[], TEXT[], TEXT[], TEXT[]),
  sealtrail_chain_rows(TEXT[], OID[], TEXT[], TEXT[], JSONB[], JSONB[]), sealtrail_chain_event(TEXT, JSONB),
  audit_chain_append(), sealtrail_guard(), sealtrail_ddl_evidence() FROM PUBLIC;

-- SECURITY DEFINER functions resolve names only in the schema they were installed into.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION audit_chain_append() SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_chain_event(TEXT, JSONB) SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_guard() SET search_path = %I, pg_catalog, pg_temp', current_schema());
  EXECUTE format('ALTER FUNCTION sealtrail_ddl_evidence() SET search_path = %I, pg_catalog, pg_temp', current_schema());
END $$;
