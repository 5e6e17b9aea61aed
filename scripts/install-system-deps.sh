#!/usr/bin/env bash
# Installs what the tests need outside Python: Debian's chromium (driven by Playwright), and MIT
# Kerberos (kinit/klist for the Kerberized mini cluster, libkrb5-dev to build the gssapi wheel that
# requests-kerberos uses).
set -euo pipefail
PACKAGES=""
[ -x /usr/bin/chromium ] || PACKAGES="$PACKAGES chromium"
[ -x /usr/bin/kinit ] || PACKAGES="$PACKAGES krb5-user"
[ -x /usr/bin/krb5-config ] || PACKAGES="$PACKAGES libkrb5-dev"
if [ -z "$PACKAGES" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null; then
  SUDO="sudo"
else
  echo "install-system-deps: missing$PACKAGES and this user cannot install them; run 'apt-get install$PACKAGES' as root" >&2
  exit 1
fi
echo "install-system-deps: installing Debian's$PACKAGES" >&2
$SUDO apt-get update -q
# shellcheck disable=SC2086 - the package list splits on spaces
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $PACKAGES >/dev/null
/usr/bin/chromium --version
