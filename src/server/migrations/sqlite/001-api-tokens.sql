CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL CHECK (length(name) > 0),
  role         TEXT NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
  token_sha256 TEXT NOT NULL UNIQUE,
  created_at   TEXT NOT NULL,
  revoked_at   TEXT
);
