#!/bin/sh
# Make sure Debian's Chromium is at /usr/bin/chromium for the dashboard test.
#
# The browser comes from the system package manager, never from a test
# tool's own download (`playwright install` fetches browsers from a CDN).
# Exit status 0 when Chromium is present afterwards, 1 when it is not.
set -eu

CHROMIUM=${VPM_CHROMIUM:-/usr/bin/chromium}

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: installing Debian's chromium package" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends chromium >/dev/null
fi

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
echo "ensure-chromium: $CHROMIUM is missing and could not be installed;" \
    "install Debian's chromium package (apt-get install chromium) as root." >&2
exit 1
