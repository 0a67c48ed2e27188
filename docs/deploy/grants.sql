-- What the app role may do, table by table (docs/deploy.md, PostgreSQL). Run as the owner
-- role, after the first `db upgrade` and again after every later one (a new table gets no
-- privilege until this runs: there are no default privileges, on purpose):
--
--   psql --set ON_ERROR_STOP=1 --set app_role=adgate -d adgate -f grants.sql
--
-- It works on the schema first in the search_path (public, unless the owner's connection
-- says otherwise) and can run any number of times: it revokes everything from the app role
-- and grants again what the code needs.
--
-- The ordinary tables: read and write rows (never ALTER, DROP or TRIGGER: the owner holds
-- those, so the app role cannot disable the triggers that keep the audit log append-only).
--
-- The audit tables, from what app/audit/ does with them:
--   audit_event         SELECT, INSERT; UPDATE of (data, purge_id) only, which `audit purge`
--                       needs to clear the bodies of expired events (the trigger admits that
--                       change alone, and nothing else). No DELETE, no TRUNCATE.
--   audit_checkpoint    SELECT, INSERT (the workers and the backup take checkpoints).
--   audit_purge,
--   audit_purge_cutoff  SELECT, INSERT (a purge's signed statement and its cutoffs).
--   audit_seal          SELECT only: the seals were written once, by migration 0010, as
--                       the owner; the code never writes one.
--   audit_verification  SELECT, INSERT, UPDATE (a verification run started from the pages
--                       and its progress; it is not evidence, the audit.verified event is).
--   alembic_version,
--   schema_revision     SELECT (/readyz and `db current` read the schema's revision and
--                       which migrations were additive; only migrations, as the owner,
--                       write them).
\set ON_ERROR_STOP on
SELECT set_config('adgate.app_role', :'app_role', false);

DO $grants$
DECLARE
    app text := current_setting('adgate.app_role');
    s text := current_schema();
    audit_tables text[] := ARRAY['audit_event', 'audit_checkpoint', 'audit_purge',
                                 'audit_purge_cutoff', 'audit_seal', 'audit_verification',
                                 'alembic_version', 'schema_revision'];
    t text;
BEGIN
    IF s IS NULL THEN
        RAISE EXCEPTION 'no schema in the search_path';
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, app);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', s, app);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', s, app);
    -- Column privileges survive a table-level REVOKE ALL: clear them too.
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = s AND c.relkind IN ('r', 'p', 'v') LOOP
        EXECUTE format(
            'REVOKE ALL (%s) ON %I.%I FROM %I',
            (SELECT string_agg(quote_ident(attname), ', ') FROM pg_attribute
             WHERE attrelid = format('%I.%I', s, t)::regclass AND attnum > 0
               AND NOT attisdropped),
            s, t, app);
    END LOOP;

    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = s AND c.relkind IN ('r', 'p')
               AND c.relname <> ALL (audit_tables) LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO %I', s, t, app);
    END LOOP;
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', s, app);

    EXECUTE format('GRANT SELECT, INSERT ON %I.audit_event TO %I', s, app);
    EXECUTE format('GRANT UPDATE (data, purge_id) ON %I.audit_event TO %I', s, app);
    EXECUTE format('GRANT SELECT, INSERT ON %I.audit_checkpoint TO %I', s, app);
    EXECUTE format('GRANT SELECT, INSERT ON %I.audit_purge TO %I', s, app);
    EXECUTE format('GRANT SELECT, INSERT ON %I.audit_purge_cutoff TO %I', s, app);
    EXECUTE format('GRANT SELECT ON %I.audit_seal TO %I', s, app);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.audit_verification TO %I', s, app);
    EXECUTE format('GRANT SELECT ON %I.alembic_version TO %I', s, app);
    EXECUTE format('GRANT SELECT ON %I.schema_revision TO %I', s, app);
END
$grants$;
