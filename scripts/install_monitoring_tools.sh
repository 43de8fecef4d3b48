#!/usr/bin/env bash
# Installs promtool (Debian package "prometheus") for tests/monitoring, only when it is missing.
# statsd-exporter has no Debian package; tests/monitoring checks the mapping with a model of
# its documented rules instead. Debian may start a prometheus service on install: it is
# stopped again, the tests need the promtool binary only.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Leave no server behind: stop the packaged service if the install started one.
if command -v service >/dev/null 2>&1; then
    $SUDO service prometheus stop >/dev/null 2>&1 || true
fi
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

command -v promtool >/dev/null 2>&1 || { echo "promtool still missing after installing 'prometheus'" >&2; exit 1; }
promtool --version | head -n 1
