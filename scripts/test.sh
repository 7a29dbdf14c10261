#!/usr/bin/env bash
# The README's test command: set up, type-check, build, run every tier of tests with node-tap,
# and end with one plain line "N passed, N failed, N skipped" counting the tests tap ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PATH="$PWD/node_modules/.bin:$PATH"

echo "== type-check"
tsc -p tsconfig.json || { echo "type-check failed"; echo "0 passed, 1 failed"; exit 1; }
# The dashboard's browser code has its own project (DOM lib, which clashes with Node's types).
tsc -p control/dashboard/ui || { echo "dashboard type-check failed"; echo "0 passed, 1 failed"; exit 1; }
echo "== build"
node scripts/build.ts || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

# tap builds its plugin set on first use; do it up front so the first run is not the one that does.
tap build >/dev/null 2>&1 || true

mkdir -p test-artifacts
log=test-artifacts/tap-output.txt
echo "== tests"
files=("$@")
[ ${#files[@]} -eq 0 ] && mapfile -t files < <(find tests -name '*.test.ts' | sort)
tap --reporter=tap --jobs=1 "${files[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Count each test file's direct tests (4-space indented results), skips apart.
passed=$(grep -cE '^    ok [0-9]+' "$log" | tr -d ' ' || true)
skipped=$(grep -E '^    ok [0-9]+' "$log" | grep -ciE '# (skip|todo)' || true)
# A whole file skipped (e.g. the image builds without WEFT_IMAGE_TESTS) has no direct tests: count it once.
file_skipped=$(grep -E '^ok [0-9]+' "$log" | grep -ciE '# (skip|todo)' || true)
failed=$(grep -cE '^    not ok [0-9]+' "$log" || true)
# A file that crashed before any test shows only as a top-level failure.
crashed=$(grep -cE '^not ok [0-9]+' "$log" || true)
[ "$failed" -eq 0 ] && [ "$crashed" -gt 0 ] && failed=$crashed
passed=$((passed - skipped))
skipped=$((skipped + file_skipped))
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
# Name what failed just above the summary, so a log cut to its tail still says which test it was.
if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then
  echo "== failures"
  awk '
    /^# Subtest: tests\// { file = $3 }
    /^    # Subtest: / { sub(/^    # Subtest: /, ""); name = $0 }
    /^        not ok [0-9]+/ { line = $0; sub(/^ +/, "", line); print "  " file " > " name " > " line }
    /^not ok [0-9]+/ { print "  " $0 }
  ' "$log" | head -40
fi
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$rc"
