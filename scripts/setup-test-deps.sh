#!/usr/bin/env bash
# System packages the test suite needs beyond the venv: headless Chromium (and its driver) for
# tests/integration/test_report_browser.py, which checks that report.html renders.
# Idempotent: does nothing when /usr/bin/chromium is already there. Without root or apt-get it
# only says what is missing; the browser test then skips locally but fails under CI=true.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "[setup-test-deps] installing Debian's chromium + chromium-driver (headless report tests)"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
    echo "[setup-test-deps] /usr/bin/chromium is missing and apt-get is not usable here;"
    echo "                  install Debian's chromium and chromium-driver for the browser test."
fi
