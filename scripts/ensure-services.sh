#!/usr/bin/env bash
# Makes sure the local services the integration tests use are running:
#
#   scripts/ensure-services.sh postgres   PostgreSQL on 127.0.0.1:5432
#   scripts/ensure-services.sh redis      Redis on 127.0.0.1:6379
#   scripts/ensure-services.sh postgres redis
#
# A service that answers already is left alone. Otherwise the Debian package is installed when
# missing (through scripts/install-deps.sh) and the service is started without systemd, so this
# also works in containers and CI. Used by `make test-postgres`, `make test-redis` and .ci/run.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
WAIT_SECONDS=30

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "error: this step needs root, and sudo is not available: $*" >&2
    exit 1
  fi
}

is_installed() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

postgres_ready() {
  pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1
}

redis_ready() {
  redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG
}

# Waits until "$1" (a function) succeeds, at most WAIT_SECONDS.
wait_for() {
  local check="$1" name="$2" i
  for ((i = 0; i < WAIT_SECONDS; i++)); do
    if "$check"; then
      echo "$name is ready."
      return 0
    fi
    sleep 1
  done
  echo "error: $name did not become ready within ${WAIT_SECONDS}s." >&2
  exit 1
}

ensure_postgres() {
  if postgres_ready; then
    echo "PostgreSQL is running on 127.0.0.1:5432."
    return 0
  fi
  local fresh=0
  if ! is_installed postgresql; then
    "$here/install-deps.sh" postgresql
    fresh=1
  fi
  local version
  version="$(ls /etc/postgresql 2>/dev/null | head -1 || true)"
  if [ -z "$version" ]; then
    echo "error: PostgreSQL is installed but has no cluster under /etc/postgresql." >&2
    echo "  Create one with: pg_createcluster <version> main" >&2
    exit 1
  fi
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if [ "$fresh" -eq 1 ] && [ -f "$hba" ] && ! grep -q 'sso-broker test' "$hba"; then
    # A cluster installed just now for the tests: let the default test URL
    # (postgres://postgres@127.0.0.1:5432/postgres, no password) connect from this machine only.
    echo "Allowing passwordless connections as 'postgres' from 127.0.0.1 in $hba (fresh test cluster)."
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust # sso-broker test cluster (scripts/ensure-services.sh)' "$hba"
  fi
  echo "Starting PostgreSQL $version (cluster main)..."
  if ! as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
    echo "warning: pg_ctlcluster start failed (it may be running already); waiting for it anyway." >&2
  fi
  if [ "$fresh" -eq 1 ]; then
    # The package may have started the cluster before pg_hba.conf was changed.
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  fi
  wait_for postgres_ready "PostgreSQL"
}

ensure_redis() {
  if redis_ready; then
    echo "Redis is running on 127.0.0.1:6379."
    return 0
  fi
  if ! is_installed redis-server; then
    "$here/install-deps.sh" redis-server
    # The package may have started a server of its own.
    if redis_ready; then
      echo "Redis is running on 127.0.0.1:6379."
      return 0
    fi
  fi
  echo "Starting Redis on 127.0.0.1:6379 (no persistence)..."
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_for redis_ready "Redis"
}

if [ "$#" -eq 0 ]; then
  echo "usage: $0 postgres|redis [postgres|redis]" >&2
  exit 2
fi
for service in "$@"; do
  case "$service" in
    postgres) ensure_postgres ;;
    redis) ensure_redis ;;
    *)
      echo "error: unknown service '$service' (expected postgres or redis)" >&2
      exit 2
      ;;
  esac
done
