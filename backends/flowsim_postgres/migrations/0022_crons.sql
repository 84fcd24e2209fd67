-- Crons created at runtime (hatchet.cron.create, wf.create_cron): every worker process
-- sharing the database fires them. Unique on (workflow, name, expression), as Hatchet's
-- index on the workflow's trigger, the expression and the name. ord keeps creation order.
-- COLLATE "C" as every text column (0012). "{schema}" is replaced by migrate.py.
CREATE TABLE {schema}.crons (
    id text COLLATE "C" PRIMARY KEY,
    ord bigint GENERATED ALWAYS AS IDENTITY,
    workflow text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    expression text COLLATE "C" NOT NULL,
    input jsonb NOT NULL,
    additional_metadata jsonb NOT NULL,
    priority integer NOT NULL,
    created_at double precision NOT NULL,
    UNIQUE (workflow, name, expression)
);
