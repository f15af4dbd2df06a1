#!/usr/bin/env bash
# Installs the Debian packages the test suite uses as real parts (mosquitto broker, the headless
# chromium Playwright drives through its executable path), when they are missing. Runs apt-get
# only as root; otherwise says what to install and fails. Playwright's own browser download
# (`playwright install`) is never used: the tests launch Debian's chromium.
set -euo pipefail
missing=()
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || missing+=(mosquitto)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
    echo "The tests need these Debian packages: ${packages}" >&2
    echo "Install them with: sudo apt-get install -y ${packages}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y -qq --no-install-recommends ${packages}
