-- Every text (and text[]) column of the schema compares bytewise (COLLATE "C").
-- "{schema}" is replaced by migrate.py, as in 0001.

-- The keys are ids, names, digests and keys written by flowsim, never prose. Under a
-- database's default collation (C.UTF-8 on the test machine, en_US.UTF-8 on many others)
-- every B-tree comparison of them went through strcoll: perf put _bt_compare and the
-- collation calls at ~8% of the server's CPU in a 10,000-child fan-out. "C" compares with
-- memcmp, and orders text as the memory and SQLite stores do (by code point).
-- A column added by a later migration must say COLLATE "C" too: comparing a column of
-- another non-default collation with one of these is an error in Postgres.
-- Only indexes are rebuilt (the type stays: no table rewrite).
DO $$
DECLARE
    target record;
BEGIN
    FOR target IN
        SELECT n.nspname AS schema_name, c.relname AS table_name, a.attname AS column_name,
               format_type(a.atttypid, NULL) AS type_name
        FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.oid = '{schema}'::regnamespace AND c.relkind = 'r' AND a.attnum > 0
          AND NOT a.attisdropped AND a.atttypid IN ('text'::regtype, 'text[]'::regtype)
          AND a.attcollation <> 'pg_catalog."C"'::regcollation
        ORDER BY c.relname, a.attnum
    LOOP
        EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I TYPE %s COLLATE "C"',
                       target.schema_name, target.table_name, target.column_name,
                       target.type_name);
    END LOOP;
END
$$;
