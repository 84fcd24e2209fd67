-- Event filters created at runtime (hatchet.filters.create): a push's scope selects the
-- filters of each subscribed workflow, in any process sharing the file. The payload is
-- canonical JSON text (sorted keys), so the unique index compares payloads by content, as
-- Hatchet's index on (workflow, scope, expression, payload hash) does. ord orders listings
-- newest first.
CREATE TABLE filters (
    id TEXT PRIMARY KEY,
    ord INTEGER NOT NULL,
    workflow_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    expression TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (workflow_id, scope, expression, payload)
);
