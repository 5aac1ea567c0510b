-- Task and repository audit: what every automated task did to every repository. Each row is
-- chained in the ledger (event_kind = table name, event_pk = id) in the transaction that inserts it.
-- JSON columns hold canonical JSON text; timestamps are ISO-8601 UTC with milliseconds.
CREATE TABLE task_audits (
  id                 TEXT    PRIMARY KEY,
  task_id            TEXT    NOT NULL CHECK (length(task_id) > 0),
  repo_id            TEXT,
  level              TEXT    NOT NULL,
  event_type         TEXT    NOT NULL,
  operation          TEXT    NOT NULL,
  status             TEXT    NOT NULL,
  files_changed      TEXT    NOT NULL DEFAULT '[]',
  lines_added        INTEGER,
  lines_deleted      INTEGER,
  commit_hash        TEXT,
  error_message      TEXT,
  git_status_summary TEXT,
  git_diff_summary   TEXT,
  payload            TEXT,
  created_at         TEXT    NOT NULL
);
CREATE INDEX task_audits_task ON task_audits (task_id, created_at);
CREATE INDEX task_audits_repo ON task_audits (repo_id, created_at);

CREATE TABLE task_artifact_ref (
  id         TEXT PRIMARY KEY,
  task_id    TEXT NOT NULL CHECK (length(task_id) > 0),
  repo_id    TEXT NOT NULL CHECK (length(repo_id) > 0),
  ref_type   TEXT NOT NULL CHECK (ref_type IN ('commit', 'branch', 'pr', 'patch', 'file', 'tag')),
  ref_value  TEXT NOT NULL CHECK (length(ref_value) > 0),
  summary    TEXT,
  metadata   TEXT,
  created_at TEXT NOT NULL,
  UNIQUE (task_id, repo_id, ref_type, ref_value)
);
CREATE INDEX task_artifact_ref_repo ON task_artifact_ref (repo_id, ref_type, created_at);
CREATE INDEX task_artifact_ref_value ON task_artifact_ref (ref_type, ref_value);
