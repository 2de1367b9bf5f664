#!/usr/bin/env bash
# Freeze Renewal Desk for Linux into dist/renewal-desk/ and prove the bundle complete.
#
#   installers/build_linux.sh
#
# Needs an environment with the app and PyInstaller installed (`pip install -e ".[test]"`
# or `pip install -e ".[build]"`); uses .venv/bin/python of the checkout when there is
# one, else python3 (override with PYTHON=...). Then runs the frozen executable's
# --self-test offscreen and prints the bundle's size and how fast the frozen app starts.
# Any failure stops the script with a non-zero status.
#
#   DIST_DIR  where the bundle goes          (default: <checkout>/dist)
#   WORK_DIR  PyInstaller's working folder   (default: <checkout>/build)
#   CLEAN=1   empty PyInstaller's caches first (slower; default: reuse them)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST_DIR="${DIST_DIR:-$ROOT/dist}"
WORK_DIR="${WORK_DIR:-$ROOT/build}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

fail() { echo "build_linux.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

"$PYTHON" -c "import PyInstaller" 2>/dev/null \
  || fail "PyInstaller is not installed for $PYTHON; run: $PYTHON -m pip install -e \"${ROOT}[build]\""
"$PYTHON" -c "import desktop_app, PySide6, sqlalchemy, alembic, keyring, openpyxl" 2>/dev/null \
  || fail "Renewal Desk's dependencies are not installed for $PYTHON; run: $PYTHON -m pip install -e \"${ROOT}[build]\""
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/desktop_app/__init__.py")"
[ -n "$VERSION" ] || fail "no __version__ in desktop_app/__init__.py"

echo "Building Renewal Desk $VERSION for Linux into $DIST_DIR/renewal-desk"
clean=()
[ "${CLEAN:-0}" = 1 ] && clean=(--clean)
started="$(now)"
"$PYTHON" -m PyInstaller --noconfirm "${clean[@]}" --log-level WARN \
  --distpath "$DIST_DIR" --workpath "$WORK_DIR" "$ROOT/installers/renewal-desk.spec" \
  || fail "PyInstaller failed (see above)"
build_seconds="$(since "$started")"

APP="$DIST_DIR/renewal-desk/renewal-desk"
[ -x "$APP" ] || fail "the build produced no executable at $APP"

# The frozen app's start: the best of three `--version` runs (the first also warms the
# file cache), then the self-test, which says how long after the start its first step ran.
best=""
for _ in 1 2 3; do
  t0="$(now)"
  "$APP" --version >/dev/null || fail "$APP --version failed"
  took="$(since "$t0")"
  if [ -z "$best" ] || awk -v a="$took" -v b="$best" 'BEGIN { exit !(a < b) }'; then best="$took"; fi
done

echo "Self-test of the frozen build:"
t0="$(now)"
QT_QPA_PLATFORM=offscreen "$APP" --self-test || fail "the frozen build failed its self-test (see above)"
selftest_seconds="$(since "$t0")"

size="$(du -sh "$DIST_DIR/renewal-desk" | cut -f1)"
files="$(find "$DIST_DIR/renewal-desk" -type f | wc -l | tr -d ' ')"
echo "Bundle: $DIST_DIR/renewal-desk ($size in $files files), built in ${build_seconds} s"
echo "Frozen start: --version in ${best} s (best of 3); self-test in ${selftest_seconds} s"
