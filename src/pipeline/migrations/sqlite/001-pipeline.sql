-- The pipeline audit store (docs/pipeline.md). Every row is chained in the ledger in the
-- transaction that writes it (event_kind = table name); the recorder checks every rule below
-- before writing and the strict reader re-checks it on every read, so these constraints are the
-- backstop, not the first line. Timestamps are ISO-8601 UTC text with milliseconds and JSON
-- columns hold canonical (RFC 8785) text, so a value reads back exactly as it was hashed.
CREATE TABLE pipeline_runs (
  run_id                TEXT    PRIMARY KEY,
  started_at            TEXT    NOT NULL,
  completed_at          TEXT,
  config_hash           TEXT    NOT NULL,
  settings_json         TEXT    NOT NULL,
  canonical_version     TEXT    NOT NULL,
  status                TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'interrupted', 'abandoned')),
  reproducibility_grade TEXT,
  lease_owner           TEXT,
  lease_expires_at      TEXT,
  source_schema_json    TEXT
);

CREATE TABLE pipeline_nodes (
  node_id              TEXT    NOT NULL,
  run_id               TEXT    NOT NULL REFERENCES pipeline_runs (run_id),
  plugin_name          TEXT    NOT NULL,
  node_type            TEXT    NOT NULL CHECK (node_type IN ('source', 'transform', 'gate', 'aggregation', 'coalesce', 'sink')),
  plugin_version       TEXT    NOT NULL,
  determinism          TEXT    NOT NULL CHECK (determinism IN ('deterministic', 'seeded', 'io_read', 'io_write', 'external_call', 'non_deterministic')),
  config_hash          TEXT    NOT NULL,
  config_json          TEXT    NOT NULL,
  sequence_in_pipeline INTEGER,
  registered_at        TEXT    NOT NULL,
  PRIMARY KEY (node_id, run_id)
);

CREATE TABLE pipeline_edges (
  edge_id      TEXT NOT NULL PRIMARY KEY,
  run_id       TEXT NOT NULL REFERENCES pipeline_runs (run_id),
  from_node_id TEXT NOT NULL,
  to_node_id   TEXT NOT NULL,
  label        TEXT NOT NULL,
  default_mode TEXT NOT NULL CHECK (default_mode IN ('move', 'copy', 'divert')),
  created_at   TEXT NOT NULL,
  UNIQUE (run_id, from_node_id, label),
  FOREIGN KEY (from_node_id, run_id) REFERENCES pipeline_nodes (node_id, run_id),
  FOREIGN KEY (to_node_id, run_id) REFERENCES pipeline_nodes (node_id, run_id)
);

CREATE TABLE pipeline_rows (
  row_id           TEXT    NOT NULL PRIMARY KEY,
  run_id           TEXT    NOT NULL REFERENCES pipeline_runs (run_id),
  source_node_id   TEXT    NOT NULL,
  row_index        INTEGER NOT NULL,
  source_data_hash TEXT    NOT NULL,
  source_data_ref  TEXT,
  created_at       TEXT    NOT NULL,
  UNIQUE (run_id, row_index),
  FOREIGN KEY (source_node_id, run_id) REFERENCES pipeline_nodes (node_id, run_id)
);

CREATE TABLE pipeline_tokens (
  token_id          TEXT    NOT NULL PRIMARY KEY,
  row_id            TEXT    NOT NULL REFERENCES pipeline_rows (row_id),
  run_id            TEXT    NOT NULL REFERENCES pipeline_runs (run_id),
  fork_group_id     TEXT,
  join_group_id     TEXT,
  expand_group_id   TEXT,
  branch_name       TEXT,
  step_in_pipeline  INTEGER,
  created_at        TEXT    NOT NULL,
  CHECK ((fork_group_id IS NOT NULL) + (join_group_id IS NOT NULL) + (expand_group_id IS NOT NULL) <= 1)
);
CREATE INDEX pipeline_tokens_run ON pipeline_tokens (run_id);
CREATE INDEX pipeline_tokens_row ON pipeline_tokens (row_id);

CREATE TABLE pipeline_token_parents (
  token_id        TEXT    NOT NULL REFERENCES pipeline_tokens (token_id),
  parent_token_id TEXT    NOT NULL REFERENCES pipeline_tokens (token_id),
  ordinal         INTEGER NOT NULL,
  PRIMARY KEY (token_id, parent_token_id),
  UNIQUE (token_id, ordinal)
);
CREATE INDEX pipeline_token_parents_parent ON pipeline_token_parents (parent_token_id);

CREATE TABLE pipeline_token_outcomes (
  outcome_id             TEXT    NOT NULL PRIMARY KEY,
  run_id                 TEXT    NOT NULL REFERENCES pipeline_runs (run_id),
  token_id               TEXT    NOT NULL REFERENCES pipeline_tokens (token_id),
  outcome                TEXT    NOT NULL CHECK (outcome IN ('completed', 'routed', 'forked', 'failed', 'quarantined', 'diverted', 'consumed_in_batch', 'coalesced', 'expanded', 'buffered')),
  is_terminal            INTEGER NOT NULL CHECK (is_terminal = CASE WHEN outcome = 'buffered' THEN 0 ELSE 1 END),
  recorded_at            TEXT    NOT NULL,
  sink_name              TEXT,
  batch_id               TEXT,
  fork_group_id          TEXT,
  join_group_id          TEXT,
  expand_group_id        TEXT,
  error_hash             TEXT,
  context_json           TEXT,
  expected_branches_json TEXT
);
CREATE UNIQUE INDEX pipeline_token_outcomes_one_terminal ON pipeline_token_outcomes (token_id) WHERE is_terminal = 1;
CREATE INDEX pipeline_token_outcomes_run ON pipeline_token_outcomes (run_id);
CREATE INDEX pipeline_token_outcomes_token ON pipeline_token_outcomes (token_id);

CREATE TABLE pipeline_node_states (
  state_id            TEXT    NOT NULL PRIMARY KEY,
  token_id            TEXT    NOT NULL REFERENCES pipeline_tokens (token_id),
  run_id              TEXT    NOT NULL REFERENCES pipeline_runs (run_id),
  node_id             TEXT    NOT NULL,
  step_index          INTEGER NOT NULL,
  attempt             INTEGER NOT NULL CHECK (attempt >= 0),
  status              TEXT    NOT NULL CHECK (status IN ('open', 'pending', 'completed', 'failed')),
  input_hash          TEXT    NOT NULL,
  output_hash         TEXT,
  context_before_json TEXT,
  context_after_json  TEXT,
  duration_ms         INTEGER,
  error_json          TEXT,
  success_reason_json TEXT,
  started_at          TEXT    NOT NULL,
  completed_at        TEXT,
  UNIQUE (token_id, node_id, attempt),
  FOREIGN KEY (node_id, run_id) REFERENCES pipeline_nodes (node_id, run_id),
  CHECK (status <> 'open' OR (output_hash IS NULL AND completed_at IS NULL AND duration_ms IS NULL AND context_after_json IS NULL AND error_json IS NULL AND success_reason_json IS NULL)),
  CHECK (status <> 'pending' OR (completed_at IS NOT NULL AND duration_ms IS NOT NULL AND output_hash IS NULL AND error_json IS NULL AND success_reason_json IS NULL)),
  CHECK (status <> 'completed' OR (output_hash IS NOT NULL AND completed_at IS NOT NULL AND duration_ms IS NOT NULL AND error_json IS NULL)),
  CHECK (status <> 'failed' OR (completed_at IS NOT NULL AND duration_ms IS NOT NULL AND error_json IS NOT NULL AND success_reason_json IS NULL))
);
CREATE INDEX pipeline_node_states_run ON pipeline_node_states (run_id);

CREATE TABLE pipeline_operations (
  operation_id     TEXT    NOT NULL PRIMARY KEY,
  run_id           TEXT    NOT NULL REFERENCES pipeline_runs (run_id),
  node_id          TEXT    NOT NULL,
  operation_type   TEXT    NOT NULL CHECK (operation_type IN ('source_load', 'sink_write')),
  started_at       TEXT    NOT NULL,
  completed_at     TEXT,
  status           TEXT    NOT NULL CHECK (status IN ('open', 'completed', 'failed', 'pending')),
  input_data_ref   TEXT,
  output_data_ref  TEXT,
  input_data_hash  TEXT,
  output_data_hash TEXT,
  error_message    TEXT,
  duration_ms      INTEGER,
  FOREIGN KEY (node_id, run_id) REFERENCES pipeline_nodes (node_id, run_id),
  CHECK (status <> 'failed' OR error_message IS NOT NULL),
  CHECK (status <> 'completed' OR error_message IS NULL),
  CHECK ((status = 'open') = (duration_ms IS NULL))
);
CREATE INDEX pipeline_operations_run ON pipeline_operations (run_id);

CREATE TABLE pipeline_calls (
  call_id       TEXT    NOT NULL PRIMARY KEY,
  state_id      TEXT    REFERENCES pipeline_node_states (state_id),
  operation_id  TEXT    REFERENCES pipeline_operations (operation_id),
  call_index    INTEGER NOT NULL,
  call_type     TEXT    NOT NULL CHECK (call_type IN ('llm', 'http', 'http_redirect', 'sql', 'vector', 'filesystem')),
  status        TEXT    NOT NULL CHECK (status IN ('success', 'error')),
  request_hash  TEXT    NOT NULL,
  request_ref   TEXT,
  response_hash TEXT,
  response_ref  TEXT,
  error_json    TEXT,
  latency_ms    INTEGER,
  created_at    TEXT    NOT NULL,
  CHECK ((state_id IS NULL) <> (operation_id IS NULL)),
  UNIQUE (state_id, call_index),
  UNIQUE (operation_id, call_index)
);

CREATE TABLE pipeline_routing_events (
  event_id         TEXT    NOT NULL PRIMARY KEY,
  state_id         TEXT    NOT NULL REFERENCES pipeline_node_states (state_id),
  edge_id          TEXT    NOT NULL REFERENCES pipeline_edges (edge_id),
  routing_group_id TEXT    NOT NULL,
  ordinal          INTEGER NOT NULL,
  mode             TEXT    NOT NULL CHECK (mode IN ('move', 'copy', 'divert')),
  reason_hash      TEXT,
  reason_ref       TEXT,
  created_at       TEXT    NOT NULL,
  UNIQUE (routing_group_id, ordinal)
);
CREATE INDEX pipeline_routing_events_state ON pipeline_routing_events (state_id);

CREATE TABLE pipeline_batches (
  batch_id             TEXT    NOT NULL PRIMARY KEY,
  run_id               TEXT    NOT NULL REFERENCES pipeline_runs (run_id),
  aggregation_node_id  TEXT    NOT NULL,
  aggregation_state_id TEXT    REFERENCES pipeline_node_states (state_id),
  trigger_type         TEXT    CHECK (trigger_type IN ('count', 'timeout', 'condition', 'end_of_source', 'manual')),
  trigger_reason       TEXT,
  attempt              INTEGER NOT NULL CHECK (attempt >= 0),
  status               TEXT    NOT NULL CHECK (status IN ('draft', 'executing', 'completed', 'failed')),
  created_at           TEXT    NOT NULL,
  first_accepted_at    TEXT,
  completed_at         TEXT,
  FOREIGN KEY (aggregation_node_id, run_id) REFERENCES pipeline_nodes (node_id, run_id)
);
CREATE INDEX pipeline_batches_run ON pipeline_batches (run_id);

CREATE TABLE pipeline_batch_members (
  batch_id TEXT    NOT NULL REFERENCES pipeline_batches (batch_id),
  token_id TEXT    NOT NULL REFERENCES pipeline_tokens (token_id),
  ordinal  INTEGER NOT NULL,
  PRIMARY KEY (batch_id, token_id),
  UNIQUE (batch_id, ordinal)
);

CREATE TABLE pipeline_artifacts (
  artifact_id          TEXT    NOT NULL PRIMARY KEY,
  run_id               TEXT    NOT NULL REFERENCES pipeline_runs (run_id),
  produced_by_state_id TEXT    NOT NULL REFERENCES pipeline_node_states (state_id),
  sink_node_id         TEXT    NOT NULL,
  artifact_type        TEXT    NOT NULL,
  path_or_uri          TEXT    NOT NULL,
  content_hash         TEXT    NOT NULL,
  size_bytes           INTEGER NOT NULL CHECK (size_bytes >= 0),
  idempotency_key      TEXT,
  created_at           TEXT    NOT NULL,
  FOREIGN KEY (sink_node_id, run_id) REFERENCES pipeline_nodes (node_id, run_id)
);

CREATE TABLE pipeline_validation_errors (
  error_id      TEXT NOT NULL PRIMARY KEY,
  run_id        TEXT NOT NULL REFERENCES pipeline_runs (run_id),
  node_id       TEXT,
  row_id        TEXT REFERENCES pipeline_rows (row_id),
  row_hash      TEXT NOT NULL,
  row_data_json TEXT,
  error         TEXT NOT NULL,
  schema_mode   TEXT NOT NULL,
  destination   TEXT NOT NULL,
  field         TEXT,
  expected_type TEXT,
  actual_type   TEXT,
  created_at    TEXT NOT NULL
);

CREATE TABLE pipeline_transform_errors (
  error_id           TEXT NOT NULL PRIMARY KEY,
  run_id             TEXT NOT NULL REFERENCES pipeline_runs (run_id),
  token_id           TEXT NOT NULL REFERENCES pipeline_tokens (token_id),
  transform_id       TEXT NOT NULL,
  row_hash           TEXT NOT NULL,
  row_data_json      TEXT,
  error_details_json TEXT,
  destination        TEXT NOT NULL,
  created_at         TEXT NOT NULL
);

CREATE TABLE pipeline_checkpoints (
  checkpoint_id          TEXT    NOT NULL PRIMARY KEY,
  run_id                 TEXT    NOT NULL REFERENCES pipeline_runs (run_id),
  token_id               TEXT    NOT NULL REFERENCES pipeline_tokens (token_id),
  node_id                TEXT    NOT NULL,
  sequence_number        INTEGER NOT NULL,
  aggregation_state_json TEXT,
  coalesce_state_json    TEXT,
  topology_hash          TEXT    NOT NULL,
  node_config_hash       TEXT    NOT NULL,
  format_version         INTEGER NOT NULL,
  created_at             TEXT    NOT NULL
);
