-- adgate's two PostgreSQL roles and its empty database (docs/deploy.md, PostgreSQL). Run as
-- a superuser on a new server, before the first `db upgrade` and also before a restore
-- (pg_restore needs the roles the dump names to exist):
--
--   psql --set ON_ERROR_STOP=1 --set owner_role=adgate_owner --set app_role=adgate \
--        --set database=adgate -d postgres -f roles.sql
--
-- then give each role its password (`\password adgate_owner`, `\password adgate`). A role
-- that exists already is kept as it is; the database must not exist yet. After the
-- migration (or the restore), grants.sql gives the app role what it may do, table by table.
\set ON_ERROR_STOP on
SELECT format('CREATE ROLE %I LOGIN', :'owner_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner_role') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
CREATE DATABASE :"database" OWNER :"owner_role" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"owner_role";
GRANT CONNECT ON DATABASE :"database" TO :"app_role";
\connect :"database"
-- PostgreSQL 15 and newer: the schema public belongs to the database's owner, and nobody
-- else may create in it. The same on older versions:
ALTER SCHEMA public OWNER TO :"owner_role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";
