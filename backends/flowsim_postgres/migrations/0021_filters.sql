-- Event filters created at runtime (hatchet.filters.create): a push's scope selects the
-- filters of each subscribed workflow, in any process sharing the database. Unique on
-- (workflow, scope, expression, payload), the payload by content (jsonb's text is
-- canonical), as Hatchet's index on the payload's hash. ord orders listings newest first.
-- COLLATE "C" as every text column (0012). "{schema}" is replaced by migrate.py.
CREATE TABLE {schema}.filters (
    id text COLLATE "C" PRIMARY KEY,
    ord bigint GENERATED ALWAYS AS IDENTITY,
    workflow_id text COLLATE "C" NOT NULL,
    scope text COLLATE "C" NOT NULL,
    expression text COLLATE "C" NOT NULL,
    payload jsonb NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);
CREATE UNIQUE INDEX filters_identity
    ON {schema}.filters (workflow_id, scope, expression, md5(payload::text));
