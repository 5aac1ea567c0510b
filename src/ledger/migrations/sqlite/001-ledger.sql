-- The ledger: the hash chain, the Merkle tree's complete subtrees, the head and checkpoints.
CREATE TABLE audit_chain (
  seq         INTEGER PRIMARY KEY CHECK (seq >= 1),
  event_kind  TEXT    NOT NULL CHECK (length(event_kind) > 0),
  event_pk    TEXT    NOT NULL CHECK (length(event_pk) > 0),
  event_hash  BLOB    NOT NULL CHECK (length(event_hash) = 32),
  prev_hash   BLOB    NOT NULL CHECK (length(prev_hash) = 32),
  chain_hash  BLOB    NOT NULL CHECK (length(chain_hash) = 32),
  -- ISO-8601 UTC with microseconds, e.g. 2026-11-25T03:04:05.123456Z
  appended_at TEXT    NOT NULL,
  -- canonical JSON (RFC 8785); NULL once redacted, the hash stays
  payload     TEXT,
  UNIQUE (event_kind, event_pk)
);

-- Every complete, aligned subtree of the RFC 6962 tree: hash of leaves
-- [idx * 2^level, (idx + 1) * 2^level). Level 0 holds the leaf hashes. Any proof needs
-- O(log n) of these rows.
CREATE TABLE merkle_nodes (
  level INTEGER NOT NULL,
  idx   INTEGER NOT NULL,
  hash  BLOB    NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- One row: where the ledger ends. Appenders serialise on it.
CREATE TABLE ledger_head (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  size       INTEGER NOT NULL,
  chain_hash BLOB    NOT NULL,
  root       BLOB    NOT NULL
);
INSERT INTO ledger_head (id, size, chain_hash, root)
VALUES (1, 0, zeroblob(32), X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

CREATE TABLE checkpoints (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  origin       TEXT    NOT NULL,
  size         INTEGER NOT NULL,
  root         BLOB    NOT NULL,
  chain_hash   BLOB    NOT NULL,
  note         TEXT    NOT NULL,
  cosignatures TEXT    NOT NULL DEFAULT '[]',
  created_at   TEXT    NOT NULL
);
CREATE INDEX checkpoints_size ON checkpoints (size);
