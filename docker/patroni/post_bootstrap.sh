#!/bin/sh
# Patroni runs this once, on the member that bootstraps the cluster (initdb), with the superuser's
# connection URL as $1: the role and database the receivers and Grafana use, as the single
# profile's postgres image makes them from POSTGRES_USER / POSTGRES_DB / POSTGRES_PASSWORD.
set -eu
psql "$1" -v ON_ERROR_STOP=1 -v pw="${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" <<'SQL'
CREATE ROLE d76 LOGIN PASSWORD :'pw';
CREATE DATABASE d76 OWNER d76;
SQL
