-- Writers serialise on the ledger_head row (SELECT ... FOR UPDATE needs UPDATE privilege on it,
-- which only the ledger's owner holds) instead of an advisory lock any role could take and hold;
-- the write guards fire under session_replication_role = replica too (ENABLE ALWAYS).

-- The function replacement and trigger changes below are DDL evidence; this install event
-- attributes them to sealtrail.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname IN ('sealtrail_ddl_end', 'sealtrail_ddl_drop')) THEN
    PERFORM sealtrail_chain(ARRAY['sealtrail.capture.install'], ARRAY[NULL::text],
      ARRAY[sealtrail_canon_jsonb(jsonb_build_object('migration', 'capture 004', 'role', session_user::text,
        'txid', pg_current_xact_id()::text))]);
  END IF;
END $$;

CREATE OR REPLACE FUNCTION sealtrail_chain(kinds TEXT[], pks TEXT[], payloads TEXT[], versions TEXT[] DEFAULT NULL) RETURNS BIGINT
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
  SELECT size, chain_hash INTO n, c FROM ledger_head WHERE id = 1 FOR UPDATE;
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

ALTER TABLE audit_chain ENABLE ALWAYS TRIGGER sealtrail_guard;
ALTER TABLE merkle_nodes ENABLE ALWAYS TRIGGER sealtrail_guard;
ALTER TABLE ledger_head ENABLE ALWAYS TRIGGER sealtrail_guard;
ALTER TABLE checkpoints ENABLE ALWAYS TRIGGER sealtrail_guard;
ALTER TABLE capture_tables ENABLE ALWAYS TRIGGER sealtrail_guard;

-- Truncate guards of tables watched before this step.
DO $$
DECLARE
  r RECORD;
BEGIN
  FOR r IN SELECT t.tgrelid FROM pg_trigger t JOIN capture_tables ct ON ct.relid = t.tgrelid
           WHERE t.tgname = 'sealtrail_truncate_guard' AND t.tgenabled <> 'A' LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER sealtrail_truncate_guard', r.tgrelid::regclass);
  END LOOP;
END $$;
