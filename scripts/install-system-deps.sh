#!/usr/bin/env bash
# Installs what the tests need outside Python: Debian's chromium (driven by Playwright).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null; then
  SUDO="sudo"
else
  echo "install-system-deps: /usr/bin/chromium is missing and this user cannot install it; run 'apt-get install chromium' as root" >&2
  exit 1
fi
echo "install-system-deps: installing Debian's chromium" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null
/usr/bin/chromium --version
