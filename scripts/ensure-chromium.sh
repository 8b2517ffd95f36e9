#!/bin/sh
# Make sure Debian's Chromium is at /usr/bin/chromium for the dashboard test.
#
# The browser comes from the system package manager, never from a test
# tool's own download (`playwright install` fetches browsers from a CDN).
# Installing needs root and apt-get. Exit status 0 when Chromium is present
# afterwards, 1 when it is not.
set -eu

CHROMIUM=${VPM_CHROMIUM:-/usr/bin/chromium}

can_install() {
    [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1
}

has_japanese_font() {
    ! command -v fc-list >/dev/null 2>&1 || [ -n "$(fc-list :lang=ja 2>/dev/null)" ]
}

packages=""
[ -x "$CHROMIUM" ] || packages=" chromium"
# A Japanese font, so screenshots show Japanese text rather than empty boxes.
has_japanese_font || packages="$packages fonts-ipafont-gothic"

if [ -n "$packages" ] && can_install; then
    echo "ensure-chromium: installing from Debian's packages:$packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086 # the package list is split on purpose
    apt-get install -y -q --no-install-recommends $packages >/dev/null
fi

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
echo "ensure-chromium: $CHROMIUM is missing and could not be installed;" \
    "install Debian's chromium package (apt-get install chromium) as root." >&2
exit 1
