#!/usr/bin/env bash
# Fresh-machine bootstrap: libcurl's development files and clang-format from Debian, libcurl 8
# from bookworm-backports unpacked beside the system's (scripts/libcurl8.sh, for the tests that
# run on both), pnpm at the pinned version, the workspace's dependencies, and every native addon
# built from source against the system's libcurl.
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
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)  # adapter-epoll's memcheck test
command -v curl >/dev/null 2>&1 || need_apt+=(curl)  # the interop suite compares with it; the bench runs curl --parallel
command -v tinyproxy >/dev/null 2>&1 || need_apt+=(tinyproxy)    # CONNECT proxy for @multisock/undici's tests
command -v microsocks >/dev/null 2>&1 || need_apt+=(microsocks)  # SOCKS5 proxy for the same tests
# Third-party servers for testkit's interop suite, which runs its own instances of them.
need_servers=()
[ -x /usr/sbin/nginx ] || need_servers+=(nginx)
[ -x /usr/bin/h2o ] || need_servers+=(h2o)
[ -x /usr/bin/redis-server ] || need_servers+=(redis-server)  # hiper's worker-mode tests
if [ ${#need_apt[@]} -gt 0 ] || [ ${#need_servers[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} ${need_servers[*]} from Debian"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  [ ${#need_apt[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  if [ ${#need_servers[@]} -gt 0 ]; then
    # Installing nginx, h2o or redis-server starts their system services; the tests never use those, so
    # services are kept from starting for the duration (policy-rc.d exit 101, see invoke-rc.d).
    guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      guard=/usr/sbin/policy-rc.d
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$guard" >/dev/null && $SUDO chmod +x "$guard"
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_servers[@]}" >/dev/null
    [ -z "$guard" ] || $SUDO rm -f "$guard"
  fi
fi

echo "setup: libcurl 8 beside the system's"
bash scripts/libcurl8.sh fetch >/dev/null

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1
fi

echo "setup: installing dependencies"
CI=true pnpm install --frozen-lockfile=false --reporter=silent
echo "setup: building"
pnpm run build >/tmp/multisock-build.log 2>&1 || { cat /tmp/multisock-build.log; exit 1; }
echo "setup: ready (libcurl $(curl-config --version | cut -d' ' -f2), and $(.libcurl8/curl-config --version | cut -d' ' -f2) in .libcurl8/; pnpm $(pnpm --version), node $(node --version))"
