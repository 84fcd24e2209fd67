-- Crons created at runtime (hatchet.cron.create, wf.create_cron): every worker process
-- sharing the file fires them. Unique on (workflow, name, expression), as Hatchet's index
-- on the workflow's trigger, the expression and the name. ord keeps creation order.
CREATE TABLE crons (
    id TEXT PRIMARY KEY,
    ord INTEGER NOT NULL,
    workflow TEXT NOT NULL,
    name TEXT NOT NULL,
    expression TEXT NOT NULL,
    input TEXT NOT NULL,
    additional_metadata TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at REAL NOT NULL,
    UNIQUE (workflow, name, expression)
);
