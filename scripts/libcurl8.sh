#!/usr/bin/env bash
# libcurl 8.x from Debian's bookworm-backports, beside the system's libcurl and never over it: the
# packages are fetched with a private apt configuration and unpacked into .libcurl8/ (git-ignored),
# and a curl-config written there points a build at their headers, and through an rpath at their
# library, when CURL_CONFIG names it.
#   bash scripts/libcurl8.sh fetch   fetch and unpack once (scripts/setup.sh does); prints the curl-config
#   bash scripts/libcurl8.sh test    the README's `pnpm test` with CURL_CONFIG set to it: every
#                                    package built and tested against libcurl 8 (pnpm run test:libcurl8)
# A build is for the libcurl curl-config names, so a `pnpm run build` afterwards builds for the
# system's libcurl again.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
  fetch | test) ;;
  *)
    echo "usage: bash scripts/libcurl8.sh fetch | test" >&2
    exit 2
    ;;
esac

dir="$PWD/.libcurl8"
arch=$(dpkg --print-architecture)
triplet=$(gcc -print-multiarch)
lib="$dir/root/usr/lib/$triplet"
include="$dir/root/usr/include/$triplet"
if [ ! -f "$include/curl/curl.h" ] || [ ! -e "$lib/libcurl.so.4" ]; then
  echo "libcurl8: fetching libcurl 8 from bookworm-backports into $dir" >&2
  rm -rf "$dir"
  mkdir -p "$dir/apt/sources" "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/root"
  echo "deb http://deb.debian.org/debian bookworm-backports main" >"$dir/apt/sources/backports.list"
  apt_opts=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$dir/apt/sources"
    -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache" -o "Dir::State::status=/var/lib/dpkg/status"
    -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" update -qq
  version=$(apt-cache "${apt_opts[@]}" madison libcurl4-openssl-dev | awk '$3 ~ /^8\./ {print $3; exit}')
  [ -n "$version" ] || {
    echo "libcurl8: no 8.x libcurl4-openssl-dev in bookworm-backports" >&2
    exit 1
  }
  (cd "$dir" && apt-get "${apt_opts[@]}" download -qq "libcurl4:$arch=$version" "libcurl4-openssl-dev:$arch=$version")
  for deb in "$dir"/*.deb; do dpkg -x "$deb" "$dir/root"; done
fi
# The library's own dependencies are those of the system's libcurl4, which setup.sh installs.
missing=$(ldd "$lib/libcurl.so.4" | awk '/not found/ {print $1}' | tr '\n' ' ')
if [ -n "$missing" ]; then
  echo "libcurl8: $lib/libcurl.so.4 needs $missing: install libcurl4-openssl-dev from Debian (scripts/setup.sh does)" >&2
  exit 1
fi
version=$(sed -n 's/^#define LIBCURL_VERSION "\(.*\)"/\1/p' "$include/curl/curlver.h")
vernum=$(sed -n 's/^#define LIBCURL_VERSION_NUM 0x\([0-9a-fA-F]*\)/\1/p' "$include/curl/curlver.h")
cat >"$dir/curl-config.new" <<CONFIG
#!/bin/sh
# Written by scripts/libcurl8.sh: libcurl $version unpacked here, beside the system's.
case "\$1" in
  --cflags) echo "-I$include" ;;
  --libs) echo "-L$lib -Wl,-rpath,$lib -lcurl" ;;
  --prefix) echo "$dir/root/usr" ;;
  --version) echo "libcurl $version" ;;
  --vernum) echo "$vernum" ;;
  *) echo "curl-config: unsupported option \$1" >&2; exit 1 ;;
esac
CONFIG
chmod +x "$dir/curl-config.new"
mv "$dir/curl-config.new" "$dir/curl-config"

if [ "$mode" = fetch ]; then
  echo "libcurl8: libcurl $version in $dir/root; CURL_CONFIG=$dir/curl-config builds for it" >&2
  echo "$dir/curl-config"
  exit 0
fi
echo "libcurl8: every package's build and tests against libcurl $version (CURL_CONFIG=$dir/curl-config)"
CURL_CONFIG="$dir/curl-config" pnpm test
