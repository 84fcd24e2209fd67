-- Idempotency keys (flowsim.idempotency): the run that claimed each key last and its claim.
-- Whether the key is still held is decided when a run is created (expires_at, and for a
-- STATUS key, until_end = 1, the holder's status), so nothing is deleted when runs end.
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    until_end INTEGER NOT NULL
) WITHOUT ROWID;
