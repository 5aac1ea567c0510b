-- The ledger: the hash chain, the Merkle tree's complete subtrees, the head and checkpoints.
CREATE TABLE audit_chain (
  seq         BIGINT      PRIMARY KEY CHECK (seq >= 1),
  event_kind  TEXT        NOT NULL CHECK (length(event_kind) > 0),
  event_pk    TEXT        NOT NULL CHECK (length(event_pk) > 0),
  event_hash  BYTEA       NOT NULL CHECK (length(event_hash) = 32),
  prev_hash   BYTEA       NOT NULL CHECK (length(prev_hash) = 32),
  chain_hash  BYTEA       NOT NULL CHECK (length(chain_hash) = 32),
  appended_at TIMESTAMPTZ NOT NULL,
  -- canonical JSON (RFC 8785) as text, byte for byte; NULL once redacted, the hash stays
  payload     TEXT,
  UNIQUE (event_kind, event_pk)
);

-- Every complete, aligned subtree of the RFC 6962 tree: hash of leaves
-- [idx * 2^level, (idx + 1) * 2^level). Level 0 holds the leaf hashes. Any proof needs
-- O(log n) of these rows.
CREATE TABLE merkle_nodes (
  level SMALLINT NOT NULL,
  idx   BIGINT   NOT NULL,
  hash  BYTEA    NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);

-- One row: where the ledger ends. Appenders (TypeScript and triggers) lock it FOR UPDATE.
CREATE TABLE ledger_head (
  id         INT    PRIMARY KEY CHECK (id = 1),
  size       BIGINT NOT NULL,
  chain_hash BYTEA  NOT NULL,
  root       BYTEA  NOT NULL
);
INSERT INTO ledger_head (id, size, chain_hash, root)
VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea,
        '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'::bytea);

CREATE TABLE checkpoints (
  id           BIGSERIAL   PRIMARY KEY,
  origin       TEXT        NOT NULL,
  size         BIGINT      NOT NULL,
  root         BYTEA       NOT NULL,
  chain_hash   BYTEA       NOT NULL,
  note         TEXT        NOT NULL,
  cosignatures JSONB       NOT NULL DEFAULT '[]',
  created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX checkpoints_size ON checkpoints (size);
