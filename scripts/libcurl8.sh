#!/usr/bin/env bash
# Builds @multisock/core against libcurl 8.x from Debian's bookworm-backports and runs its tests,
# without touching the system's libcurl: the packages are fetched with a private apt
# configuration and unpacked into .libcurl8/ (git-ignored), and the addon finds them through a
# curl-config written there (CURL_CONFIG) and an rpath.
#   bash scripts/libcurl8.sh          fetch, build the core against 8.x, run its tests
# Afterwards `pnpm --filter @multisock/core run build` builds against the system libcurl again.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$PWD/.libcurl8"
arch=$(dpkg --print-architecture)
triplet=$(gcc -print-multiarch)
mkdir -p "$dir/apt/sources" "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/root"
echo "deb http://deb.debian.org/debian bookworm-backports main" >"$dir/apt/sources/backports.list"
apt_opts=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$dir/apt/sources"
  -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache" -o "Dir::State::status=/var/lib/dpkg/status"
  -o "APT::Sandbox::User=root")
if [ ! -f "$dir/root/usr/include/$triplet/curl/curl.h" ]; then
  apt-get "${apt_opts[@]}" update -qq
  version=$(apt-cache "${apt_opts[@]}" madison libcurl4-openssl-dev | awk '$3 ~ /^8\./ {print $3; exit}')
  [ -n "$version" ] || { echo "libcurl8: no 8.x libcurl4-openssl-dev in bookworm-backports" >&2; exit 1; }
  (cd "$dir" && apt-get "${apt_opts[@]}" download "libcurl4:$arch=$version" "libcurl4-openssl-dev:$arch=$version")
  for deb in "$dir"/*.deb; do dpkg -x "$deb" "$dir/root"; done
fi
lib="$dir/root/usr/lib/$triplet"
version=$(sed -n 's/^#define LIBCURL_VERSION "\(.*\)"/\1/p' "$dir/root/usr/include/$triplet/curl/curlver.h")
cat >"$dir/curl-config" <<CONFIG
#!/bin/sh
case "\$1" in
  --cflags) echo "-I$dir/root/usr/include/$triplet" ;;
  --libs) echo "-L$lib -Wl,-rpath,$lib -lcurl" ;;
  --prefix) echo "$dir/root/usr" ;;
  --version) echo "libcurl $version" ;;
  *) exit 1 ;;
esac
CONFIG
chmod +x "$dir/curl-config"
echo "libcurl8: building @multisock/core against libcurl $version"
cd packages/core
rm -rf build native/generated
CURL_CONFIG="$dir/curl-config" pnpm run build
node -e "import('@multisock/core').then(m => { if (!m.libcurl.version.startsWith('8.')) { console.error('loaded', m.libcurl.version); process.exit(1) } console.log('libcurl8: loaded', m.libcurl.version) })"
pnpm exec vitest run
