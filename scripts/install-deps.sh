#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages sso-broker needs, only those that are missing.
#
#   scripts/install-deps.sh             build dependencies, then check that cargo exists
#   scripts/install-deps.sh PKG...      just these packages (scripts/ensure-services.sh uses this)
#
# Runs apt-get through sudo unless already root. Nothing is done when every package is present.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential
  pkg-config
  libssl-dev
  libpq-dev
  libsqlite3-dev
  libclang-dev
  libxmlsec1-dev
  libxml2-dev
)

check_cargo() {
  if command -v cargo >/dev/null 2>&1; then
    return 0
  fi
  echo "error: cargo (the Rust toolchain) is not installed or not on PATH." >&2
  if [ -x "${HOME:-}/.cargo/bin/cargo" ]; then
    echo "  It is installed in ~/.cargo/bin: run  . \"\$HOME/.cargo/env\"  (or open a new shell) and try again." >&2
  else
    echo "  Install it from https://rustup.rs, e.g.:" >&2
    echo "    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh" >&2
    echo "  then open a new shell (or run  . \"\$HOME/.cargo/env\") and try again." >&2
  fi
  exit 1
}

# Prints the packages of "$@" that dpkg does not report as installed.
missing_packages() {
  local pkg
  for pkg in "$@"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
      echo "$pkg"
    fi
  done
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "error: installing packages needs root, and sudo is not available. Run as root: $*" >&2
    exit 1
  fi
}

install_packages() {
  if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: this script needs a Debian/Ubuntu system (dpkg, apt-get)." >&2
    echo "  Install these packages (or your system's equivalents) by hand: $*" >&2
    exit 1
  fi
  local missing
  mapfile -t missing < <(missing_packages "$@")
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  echo "Installing missing packages: ${missing[*]}"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

if [ "$#" -gt 0 ]; then
  install_packages "$@"
else
  check_cargo
  install_packages "${BUILD_PACKAGES[@]}"
fi
