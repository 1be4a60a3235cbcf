#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised (the official
# image's /docker-entrypoint-initdb.d). Creates the login role the services
# use, with the password from BS_SERVICE_PASSWORD; migration 0002 finds the
# role and only grants it rights on rows (it owns nothing).
set -eu
: "${BS_SERVICE_PASSWORD:?BS_SERVICE_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v pw="$BS_SERVICE_PASSWORD" <<'SQL'
CREATE ROLE bs_service LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE
    NOREPLICATION PASSWORD :'pw';
SQL
