#!/usr/bin/env bash
# Build "Desktop Search.app" and a .dmg on a Mac (it cannot be built on Linux).
#
#   packaging/macos/build-macos.sh OUTDIR
#
# Needs: macOS 11+, Xcode command line tools (hdiutil, codesign), and a Python
# 3.11 environment with the app installed the default way, without the torch
# extra: `pip install -e '.[packaging]'` (ONNX Runtime runs the model; build on
# the architecture you ship: arm64 on Apple silicon, x86_64 on Intel).
# Optional: CODESIGN_IDENTITY="Developer ID Application: ..." signs the app
# (hardened runtime) so it can then be notarised with `xcrun notarytool`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PYTHON=${PYTHON:-python3}
[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 64; }
[[ $(uname) == Darwin ]] || { echo "build-macos: this recipe runs on macOS only" >&2; exit 1; }
"$PYTHON" -c "import PyInstaller" 2>/dev/null \
    || { echo "build-macos: PyInstaller is missing: pip install -e '.[packaging]'" >&2; exit 1; }
command -v hdiutil >/dev/null || { echo "build-macos: hdiutil is missing (xcode-select --install)" >&2; exit 1; }

OUT=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
mkdir -p "$OUT"
VERSION=$("$PYTHON" -c "import tomllib; print(tomllib.load(open('$ROOT/pyproject.toml', 'rb'))['project']['version'])")
ARCH=$(uname -m)

(cd "$ROOT" && PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m PyInstaller \
    --noconfirm --log-level WARN --distpath "$OUT/dist" --workpath "$OUT/build" "$ROOT/packaging/desktop-search.spec")
APPDIR="$OUT/dist/Desktop Search.app"
"$APPDIR/Contents/MacOS/desktop-search" --version

if [[ -n ${CODESIGN_IDENTITY:-} ]]; then
    codesign --deep --force --options runtime --timestamp --sign "$CODESIGN_IDENTITY" "$APPDIR"
    codesign --verify --deep --strict "$APPDIR"
fi

# The disk image: the app and a link to /Applications to drag it onto.
STAGE="$OUT/dmg"
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp -R "$APPDIR" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
DMG="$OUT/desktop-search-$VERSION-macos-$ARCH.dmg"
rm -f "$DMG"
hdiutil create -volname "Desktop Search $VERSION" -srcfolder "$STAGE" -ov -format UDZO "$DMG"
rm -rf "$STAGE"
echo "build-macos: $DMG"
echo "build-macos: smoke test: packaging/smoke_test.sh \"$APPDIR/Contents/MacOS/desktop-search\""
