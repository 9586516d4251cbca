#!/bin/sh
# The browser tests (ctest browser.dashboard): hm-client.js in Node, then the
# dashboard page in headless Chromium against the real stack. Needs Debian's
# chromium and tests/browser/node_modules (npm ci); scripts/test installs
# both. Without them this fails and says what is missing.
#
# Environment: HM_BIN_DIR (binaries), HM_SHOTS_DIR (screenshots),
# HM_CHROMIUM (default /usr/bin/chromium), HM_BROWSER_JUNIT (also write a
# JUnit XML report there), HM_TEST_SLOW, HM_KEEP_TEST_DIRS.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
CHROMIUM=${HM_CHROMIUM:-/usr/bin/chromium}

fail() {
    echo "browser.dashboard: FAILED: $*" >&2
    exit 1
}
command -v node >/dev/null 2>&1 ||
    fail "node is not installed (scripts/bootstrap installs Debian's nodejs and npm)"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] ||
    fail "node $(node --version) is too old: Node.js 20 or newer is needed (Debian 12's nodejs is 18; use NodeSource's)"
[ -x "$CHROMIUM" ] ||
    fail "$CHROMIUM is not installed (scripts/bootstrap installs it: apt-get install chromium)"
[ -f "$HERE/node_modules/playwright-core/package.json" ] ||
    fail "$HERE/node_modules is missing (scripts/test runs: npm ci --prefix tests/browser)"

# Node 20 has a WebSocket client behind a flag (Node 22 has it built in).
FLAGS=""
if ! node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null &&
    node --experimental-websocket -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' 2>/dev/null; then
    FLAGS="--experimental-websocket"
fi
REPORT="--test-reporter=spec --test-reporter-destination=stdout"
if [ -n "${HM_BROWSER_JUNIT:-}" ]; then
    REPORT="$REPORT --test-reporter=junit --test-reporter-destination=$HM_BROWSER_JUNIT"
fi
cd "$HERE"
# shellcheck disable=SC2086
exec node $FLAGS --test --test-concurrency=1 $REPORT test/client.test.js test/dashboard.test.js
