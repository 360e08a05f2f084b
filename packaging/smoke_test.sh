#!/usr/bin/env bash
# Smoke-test a frozen desktop-search from a clean environment.
#
#   packaging/smoke_test.sh BUNDLE [DOCUMENT...]
#
# BUNDLE is the one-folder bundle (OUT/dist/desktop-search), its executable, or
# an installed launcher (/usr/bin/desktop-search). DOCUMENTs (default: alice.epub
# from ../shared/corpora/epub-zoo) are copied into a temporary folder whose name
# is not ASCII, and the binary is run with `env -i` (no venv, no PATH, no
# locale, HOME in a temp dir) and, where `unshare` allows, without a network:
#   --version          prints the version from pyproject.toml
#   index FOLDER       indexes it with the bundled default model, in worker processes
#   status, search     finds SMOKE_EXPECT in the top 10 passages for SMOKE_QUERY
#   (no arguments)     the window opens under QT_QPA_PLATFORM=offscreen
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUERY=${SMOKE_QUERY:-a cat that disappears leaving its grin}
EXPECT=${SMOKE_EXPECT:-Cheshire}

if [[ $# -lt 1 ]]; then
    echo "usage: $0 BUNDLE [DOCUMENT...]" >&2
    exit 64
fi
target=$1
shift
if [[ -d $target ]]; then
    exe=$target/desktop-search
else
    exe=$target
fi
exe=$(realpath "$exe")
[[ -x $exe ]] || { echo "smoke: $exe is not an executable" >&2; exit 1; }
docs=("$@")
if [[ ${#docs[@]} -eq 0 ]]; then
    docs=("$ROOT/../shared/corpora/epub-zoo/alice.epub")
fi

tmp=$(mktemp -d /tmp/desktop-search-smoke.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
library="$tmp/Bibliothèque 図書館"
mkdir -p "$tmp/home" "$library"
cp -- "${docs[@]}" "$library/"

# No network: a user+network namespace has only a loopback that is down.
netns=()
if unshare -rn true 2>/dev/null; then
    netns=(unshare -rn)
    echo "smoke: running without a network (unshare -rn)"
else
    echo "smoke: unshare unavailable; relying on the app's own offline settings"
fi
run() {
    env -i HOME="$tmp/home" "${netns[@]}" "$exe" "$@"
}
fail() {
    echo "smoke: FAIL: $*" >&2
    exit 1
}

want=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -n1)
got=$(run --version)
echo "smoke: --version -> $got"
[[ $got == "desktop-search $want" ]] || fail "--version printed '$got', pyproject.toml says $want"

start=$(date +%s)
run index "$library" --no-progress | tee "$tmp/index.txt"
echo "smoke: index took $(( $(date +%s) - start )) s"
grep -q "Indexed ${#docs[@]} new" "$tmp/index.txt" || fail "index did not add ${#docs[@]} document(s)"
grep -q "; 0 failed;" "$tmp/index.txt" || fail "some documents failed to index"

run status | tee "$tmp/status.txt"
grep -q "sentence-transformers/all-MiniLM-L6-v2" "$tmp/status.txt" || fail "status does not name the default model"

run search "$QUERY" -k 10 --per-document 0 --json > "$tmp/results.jsonl"
[[ -s $tmp/results.jsonl ]] || fail "search returned nothing"
rank=$(grep -n -m1 -- "$EXPECT" "$tmp/results.jsonl" | cut -d: -f1 || true)
[[ -n $rank ]] || { run search "$QUERY" -k 10 --per-document 0; fail "'$EXPECT' is not in the top 10 for '$QUERY'"; }
echo "smoke: '$EXPECT' found at rank $rank of 10 for '$QUERY' (default search mode)"
run search "$QUERY" -k 1 --per-document 0

# The window: the GUI's startup probe prints a line once the window is shown,
# then closes it.
gui=$(env -i HOME="$tmp/home" QT_QPA_PLATFORM=offscreen DESKTOP_SEARCH_STARTUP_PROBE=1 "${netns[@]}" \
    timeout 120 "$exe" 2>&1) || fail "the window did not start (exit $?): $gui"
grep -q '"shown_at"' <<<"$gui" || fail "the window did not report that it was shown: $gui"
echo "smoke: the window opened (offscreen): $(grep '"shown_at"' <<<"$gui")"
echo "smoke: PASS"
