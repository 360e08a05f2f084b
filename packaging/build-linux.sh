#!/usr/bin/env bash
# Build the Linux one-folder bundle and a .deb.
#
#   packaging/build-linux.sh OUTDIR
#
# Run it with the Python environment that has desktop-search's dependencies
# (the default install: no torch) active, plus PyInstaller: `pip install -e '.[packaging]'`.
# Writes:
#   OUTDIR/dist/desktop-search/          the bundle (run ./desktop-search)
#   OUTDIR/desktop-search_VERSION_ARCH.deb
#   OUTDIR/build/                        PyInstaller's work files (reused by the next build)
# Then try it: packaging/smoke_test.sh OUTDIR/dist/desktop-search
# DEB_COMPRESSION=zstd builds the .deb several times faster than the default xz
# (dpkg >= 1.21.18 / Ubuntu 21.10 can install those; level 19 unless DEB_LEVEL says otherwise);
# DEB_MAINTAINER sets Maintainer.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP=desktop-search
PYTHON=${PYTHON:-python3}

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 64
fi
OUT=$(realpath -m "$1")
case "$OUT/" in
    "$ROOT"/*) echo "build-linux: put OUTDIR outside the repository (e.g. /tmp/desktop-search-build)" >&2; exit 64 ;;
esac

# --- What the build needs ------------------------------------------------------
missing=0
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "build-linux: PyInstaller is missing from $("$PYTHON" -c 'import sys; print(sys.prefix)' 2>/dev/null || echo "$PYTHON")." >&2
    echo "  Install it from PyPI:  pip install -e '.[packaging]'   (or: pip install pyinstaller)" >&2
    missing=1
fi
if ! command -v dpkg-deb >/dev/null; then
    echo "build-linux: dpkg-deb is missing. Install Debian's packaging tools:  sudo apt-get install dpkg-dev" >&2
    missing=1
fi
if ! "$PYTHON" -c "import desktop_search, onnxruntime, PySide6" 2>/dev/null; then
    echo "build-linux: $PYTHON cannot import the app's dependencies; activate its environment first" >&2
    echo "  (pip install -e '.[packaging]')." >&2
    missing=1
fi
[[ $missing -eq 0 ]] || exit 1

VERSION=$("$PYTHON" -c "import tomllib; print(tomllib.load(open('$ROOT/pyproject.toml', 'rb'))['project']['version'])")
ARCH=$(dpkg --print-architecture)
mkdir -p "$OUT"
echo "build-linux: desktop-search $VERSION ($ARCH) -> $OUT"

# --- The bundle ----------------------------------------------------------------
t0=$(date +%s)
(cd "$ROOT" && PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" nice -n 10 "$PYTHON" -m PyInstaller \
    --noconfirm --log-level WARN --distpath "$OUT/dist" --workpath "$OUT/build" "$ROOT/packaging/$APP.spec")
t1=$(date +%s)
BUNDLE=$OUT/dist/$APP
got=$(env -i HOME="$OUT" "$BUNDLE/$APP" --version)
[[ $got == "$APP $VERSION" ]] || { echo "build-linux: the bundle says '$got', expected '$APP $VERSION'" >&2; exit 1; }

# The X11 platform plugin must find every library it links, in the bundle or
# among the graphics libraries every desktop has (listed in Recommends below).
xcb_missing=$(cd "$BUNDLE/_internal" && LD_LIBRARY_PATH=$PWD ldd PySide6/Qt/plugins/platforms/libqxcb.so | grep "not found" || true)
if [[ -n $xcb_missing ]]; then
    echo "build-linux: WARNING: the X11 plugin links libraries this machine lacks, so they are not bundled:" >&2
    echo "$xcb_missing" >&2
    echo "  install them (e.g. sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0) and rebuild." >&2
fi

# --- The .deb ------------------------------------------------------------------
PKG=$OUT/deb/${APP}_${VERSION}_${ARCH}
rm -rf "$PKG"
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
    "$PKG/usr/share/icons/hicolor/256x256/apps" "$PKG/usr/share/icons/hicolor/scalable/apps"
cp -a "$BUNDLE" "$PKG/opt/$APP"
chmod -R u+rwX,go+rX,go-w "$PKG/opt/$APP"
ln -s "/opt/$APP/$APP" "$PKG/usr/bin/$APP"
install -m 644 "$ROOT/resources/$APP.desktop" "$PKG/usr/share/applications/$APP.desktop"
install -m 644 "$ROOT/resources/$APP.png" "$PKG/usr/share/icons/hicolor/256x256/apps/$APP.png"
install -m 644 "$ROOT/resources/$APP.svg" "$PKG/usr/share/icons/hicolor/scalable/apps/$APP.svg"

# The bundle carries its own Python and libraries; it needs the C library it
# was built against, and for the window the graphics stack PyInstaller never
# bundles (GL, EGL, xcb).
glibc=$(ldd --version | awk 'NR == 1 {print $NF}')  # awk reads to the end: head would SIGPIPE ldd under pipefail
size_kb=$(du -sk --apparent-size "$PKG" | cut -f1)
cat > "$PKG/DEBIAN/control" <<EOF
Package: $APP
Version: $VERSION
Architecture: $ARCH
Maintainer: ${DEB_MAINTAINER:-desktop-search developers <desktop-search@localhost>}
Installed-Size: $size_kb
Depends: libc6 (>= $glibc)
Recommends: libgl1, libegl1, libxcb1, libfontconfig1, libxkbcommon-x11-0, tesseract-ocr, tesseract-ocr-eng, tesseract-ocr-deu, tesseract-ocr-jpn, tesseract-ocr-kor
Section: utils
Priority: optional
Description: offline semantic search over your PDFs and EPUBs
 Indexes folders of PDF and EPUB files on this computer and answers questions
 in plain language with the passages that match, showing the page or chapter.
 Everything runs locally; the embedding model is included.
EOF

DEB=$OUT/${APP}_${VERSION}_${ARCH}.deb
COMPRESSION=${DEB_COMPRESSION:-xz}
LEVEL=${DEB_LEVEL:-}
[[ -z $LEVEL && $COMPRESSION == zstd ]] && LEVEL=19  # zstd's default level leaves the .deb a quarter larger
nice -n 10 dpkg-deb --root-owner-group -Z"$COMPRESSION" ${LEVEL:+-z"$LEVEL"} --build "$PKG" "$DEB" >/dev/null
t2=$(date +%s)
rm -rf "$OUT/deb"

echo "build-linux: bundle  $BUNDLE  $(du -sh "$BUNDLE" | cut -f1)  (PyInstaller: $((t1 - t0)) s)"
echo "build-linux: package $DEB  $(du -h "$DEB" | cut -f1)  (dpkg-deb: $((t2 - t1)) s)"
echo "build-linux: next:   $ROOT/packaging/smoke_test.sh $BUNDLE"
