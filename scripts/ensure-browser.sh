#!/usr/bin/env bash
# Makes sure headless Chromium and its ChromeDriver (Debian's chromium, chromium-driver) are
# installed, for the WebUI browser tests. Used by `make test` and so by CI.
set -euo pipefail

if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "chromium/chromedriver missing and no apt-get: the WebUI browser tests will be skipped" >&2
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing chromium and chromium-driver (apt)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
chromium --version
