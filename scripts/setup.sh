#!/usr/bin/env bash
# Sets up everything on a fresh Debian machine: real Prometheus and Alertmanager (Debian packages),
# PostgreSQL 15, Patroni and etcd (the HA shape's PostgreSQL failover), headless Chromium and its
# driver for the page tests,
# a virtual environment in .venv with the project and its pinned dependencies.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then need_apt+=(postgresql-15); fi
# `d76 stack up --ha`: PostgreSQL as a Patroni cluster, its state in etcd (local_stack/patroni.py)
command -v patroni >/dev/null 2>&1 || need_apt+=(patroni)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
# the page tests drive Debian's headless Chromium through its own driver (no browser download)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/chromedriver ] || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (apt)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # the Debian packages enable system services; we start our own copies on loopback instead
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter patroni etcd; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.d76-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing the project into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  touch "$stamp"
fi
echo "setup: ready ($(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3); $(prometheus-alertmanager --version 2>&1 | head -1 | cut -d' ' -f1-3))"
