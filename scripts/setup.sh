#!/usr/bin/env bash
# Fresh-machine bootstrap: libcurl's development files and clang-format from Debian, pnpm at
# the pinned version, the workspace's dependencies, and every native addon built from source.
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")

need_apt=()
command -v curl-config >/dev/null 2>&1 || need_apt+=(libcurl4-openssl-dev)
command -v clang-format >/dev/null 2>&1 || need_apt+=(clang-format)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v wrk >/dev/null 2>&1 || need_apt+=(wrk)  # the server's ceiling in apps/bench
command -v tinyproxy >/dev/null 2>&1 || need_apt+=(tinyproxy)    # CONNECT proxy for @multisock/undici's tests
command -v microsocks >/dev/null 2>&1 || need_apt+=(microsocks)  # SOCKS5 proxy for the same tests
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} from Debian"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1
fi

echo "setup: installing dependencies"
CI=true pnpm install --frozen-lockfile=false --reporter=silent
echo "setup: building"
pnpm run build >/tmp/multisock-build.log 2>&1 || { cat /tmp/multisock-build.log; exit 1; }
echo "setup: ready (libcurl $(curl-config --version | cut -d' ' -f2), pnpm $(pnpm --version), node $(node --version))"
