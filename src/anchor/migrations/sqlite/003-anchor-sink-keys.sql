-- Sinks are keyed by sinkKey(spec) (src/anchor/sinks/sink-key.ts): a webhook or witness URL may
-- carry a token, so its key is a hash of the spec and the redacted spec is kept as the label.
-- Rows keyed by a raw URL are re-keyed by installAnchoring right after this migration.
ALTER TABLE anchor_sinks ADD COLUMN label TEXT;
