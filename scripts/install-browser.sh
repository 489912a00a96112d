#!/usr/bin/env bash
# Installs Debian's chromium (for `make test-browser`) when /usr/bin/chromium is missing.
# Idempotent: does nothing when the browser is there. Runs apt-get through sudo unless root.
set -euo pipefail

CHROMIUM="${SSO_BROKER_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$CHROMIUM" != /usr/bin/chromium ]; then
  echo "error: SSO_BROKER_CHROMIUM=$CHROMIUM is not an executable" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: $CHROMIUM is missing and this is not a Debian/Ubuntu system (no apt-get)." >&2
  echo "  Install Chromium by hand and set SSO_BROKER_CHROMIUM to its path." >&2
  exit 1
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "error: installing chromium needs root, and sudo is not available. Run as root: $*" >&2
    exit 1
  fi
}

echo "Installing chromium (for the browser test)"
as_root apt-get update
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-dejavu-core
"$CHROMIUM" --version
