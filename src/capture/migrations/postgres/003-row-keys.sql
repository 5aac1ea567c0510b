-- Row keys can never collide with row-version keys (docs/spec.md, "Canonical row form"): a key
-- that ends like a version key (@<digits>, #update or #delete, then any '~') is chained with one
-- more '~'. src/core/row-key.ts is the definition (AMBIGUOUS_ROW_KEY is the pattern below,
-- verbatim); test/capture/row-keys.test.ts checks that both sides agree.

-- On an upgrade the function replacements below are DDL evidence; this install event attributes
-- them to sealtrail.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname IN ('sealtrail_ddl_end', 'sealtrail_ddl_drop')) THEN
    PERFORM sealtrail_chain(ARRAY['sealtrail.capture.install'], ARRAY[NULL::text],
      ARRAY[sealtrail_canon_jsonb(jsonb_build_object('migration', 'capture 003', 'role', session_user::text,
        'txid', pg_current_xact_id()::text))]);
  END IF;
END $$;

CREATE FUNCTION sealtrail_row_key(k TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN k ~ '(@[0-9]+|#update|#delete)~*$' THEN k || '~' ELSE k END
$$;

-- Canonical rows (payload) and their event_pk, set-based: one output row per input row (o = its
-- position). pk_cols[i] is the text form of the row's key column array. event_pk: one key, its
-- value's text (strings unquoted); several keys, the canonical JSON array of their values; then
-- sealtrail_row_key.
CREATE OR REPLACE FUNCTION sealtrail_canonical_rows(rels OID[], pk_cols TEXT[], rws JSONB[])
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
         sealtrail_row_key(CASE WHEN cardinality(c.pkc) = 1
              THEN CASE WHEN left(max(c.val) FILTER (WHERE c.name = c.pkc[1]), 1) = '"'
                        THEN (max(c.val) FILTER (WHERE c.name = c.pkc[1]))::jsonb #>> '{}'
                        ELSE max(c.val) FILTER (WHERE c.name = c.pkc[1]) END
              ELSE '[' || string_agg(c.val, ',' ORDER BY array_position(c.pkc, c.name)) FILTER (WHERE c.name = ANY (c.pkc)) || ']' END)
  FROM cells c GROUP BY c.o, c.pkc
$$;

