#!/usr/bin/env bash
# Debian packages the test suite needs, installed only when missing (idempotent; root on CI).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/install_monitoring_tools.sh"
need=()
# A compose implementation to validate docker-compose.yaml (`docker compose` or docker-compose).
if ! { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }; then
  need+=(docker-compose)
fi
# tests/e2e: Redis as the Celery broker, headless Chromium and its driver for the web UI test.
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
{ command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; } || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "install_test_tools: need root to apt-get install ${need[*]}" >&2; exit 1; fi
  echo "== apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
  # The package may start a system Redis on 6379: the tests start their own on a free port.
  if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
fi
