-- Merkle storage as C2SP tlog-tiles (docs/spec.md, Storage): the tree's hashes at heights 0, 8,
-- 16, ... in tiles of 256. Tile (level, idx) holds the subtree hashes of height 8·level and
-- indices 256·idx .. 256·idx + width − 1; level 0 holds the leaf hashes. Only the right edge of a
-- level is partial (width < 256) and grows in place; a full tile never changes (capture's guards
-- refuse anything else, see capture migration 005).
CREATE TABLE merkle_tiles (
  level  SMALLINT NOT NULL CHECK (level >= 0),
  idx    BIGINT   NOT NULL CHECK (idx >= 0),
  width  SMALLINT NOT NULL CHECK (width BETWEEN 1 AND 256),
  hashes BYTEA    NOT NULL CHECK (length(hashes) = 32 * width),
  PRIMARY KEY (level, idx)
);

-- The tiles of a ledger made before this step are built from its leaves (audit_chain) by the
-- first writer that opens it (src/ledger/tile-conversion.ts), which then drops this table, and
-- merkle_nodes unless capture's sealtrail_chain still writes it (capture migration 005 drops it then).
CREATE TABLE merkle_tiles_conversion (id INT PRIMARY KEY CHECK (id = 1));
INSERT INTO merkle_tiles_conversion (id) VALUES (1);
