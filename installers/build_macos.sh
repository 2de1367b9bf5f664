#!/usr/bin/env bash
# Build Renewal Desk for macOS: dist/Renewal Desk.app and dist/RenewalDesk-<version>.dmg.
#
#   installers/build_macos.sh
#
# Needs macOS 12+ with Xcode's command line tools, and Python 3.11+ with the app and
# PyInstaller installed (python3 -m venv .venv && .venv/bin/pip install -e ".[build]");
# uses .venv/bin/python of the checkout when there is one, else python3 (PYTHON=...).
# The app is built for the machine's own architecture (arm64 or x86_64).
#
# Steps: freeze with installers/renewal-desk.spec (which also makes the .app: bundle id
# org.renewaldesk.RenewalDesk, version, icon, high-DPI), run the frozen app's
# --self-test offscreen (it must pass), make the .dmg, then sign and notarize when
# configured:
#
#   MACOS_SIGN_IDENTITY   a "Developer ID Application: Name (TEAMID)" identity in your
#                         keychain: every binary and the app are signed with the hardened
#                         runtime (installers/macos/entitlements.plist), then the .dmg
#   MACOS_NOTARY_PROFILE  a keychain profile made with `xcrun notarytool store-credentials`:
#                         the signed .dmg is notarized and the ticket stapled to it
#
# Without them the build is signed ad hoc (it runs on this Mac; elsewhere Gatekeeper
# asks the user to confirm on first open) and the script says signing was skipped.
#
#   DIST_DIR / WORK_DIR   as for build_linux.sh (default: <checkout>/dist, <checkout>/build)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST_DIR="${DIST_DIR:-$ROOT/dist}"
WORK_DIR="${WORK_DIR:-$ROOT/build}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
SIGN_IDENTITY="${MACOS_SIGN_IDENTITY:-}"
NOTARY_PROFILE="${MACOS_NOTARY_PROFILE:-}"

fail() { echo "build_macos.sh: $*" >&2; exit 1; }
now() { "$PYTHON" -c 'import time; print(time.time())'; }
since() { "$PYTHON" -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"; }

[ "$(uname -s)" = Darwin ] || fail "this script builds the macOS app and runs on macOS only"
"$PYTHON" -c "import PyInstaller" 2>/dev/null \
  || fail "PyInstaller is not installed for $PYTHON; run: $PYTHON -m pip install -e \"${ROOT}[build]\""
"$PYTHON" -c "import desktop_app, PySide6, sqlalchemy, alembic, keyring, openpyxl" 2>/dev/null \
  || fail "Renewal Desk's dependencies are not installed for $PYTHON; run: $PYTHON -m pip install -e \"${ROOT}[build]\""
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$ROOT/desktop_app/__init__.py")"
[ -n "$VERSION" ] || fail "no __version__ in desktop_app/__init__.py"
if [ -n "$SIGN_IDENTITY" ]; then
  security find-identity -v -p codesigning | grep -qF "$SIGN_IDENTITY" \
    || fail "the signing identity '$SIGN_IDENTITY' is not in your keychain"
fi

# --- freeze, and prove the bundle complete ---------------------------------------------
echo "Building Renewal Desk $VERSION for macOS ($(uname -m)) into $DIST_DIR"
started="$(now)"
# The spec reads MACOS_SIGN_IDENTITY and signs every binary as it collects them.
MACOS_SIGN_IDENTITY="$SIGN_IDENTITY" "$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$DIST_DIR" --workpath "$WORK_DIR" "$ROOT/installers/renewal-desk.spec" \
  || fail "PyInstaller failed (see above)"
build_seconds="$(since "$started")"

APP="$DIST_DIR/Renewal Desk.app"
[ -x "$APP/Contents/MacOS/renewal-desk-gui" ] || fail "the build produced no $APP"
[ -x "$APP/Contents/MacOS/renewal-desk" ] || fail "the app has no renewal-desk command inside"
/usr/bin/plutil -lint "$APP/Contents/Info.plist" >/dev/null || fail "the app's Info.plist is invalid"

echo "Self-test of the frozen build:"
QT_QPA_PLATFORM=offscreen "$APP/Contents/MacOS/renewal-desk" --self-test \
  || fail "the frozen build failed its self-test (see above)"

if [ -n "$SIGN_IDENTITY" ]; then
  codesign --verify --deep --strict --verbose=2 "$APP" || fail "the app's signature does not verify"
else
  echo "MACOS_SIGN_IDENTITY is not set: skipping signing (the app is signed ad hoc)."
fi

# --- the disk image: the app and a link to /Applications to drag it onto -----------------
DMG="$DIST_DIR/RenewalDesk-$VERSION.dmg"
STAGE="$WORK_DIR/dmg"
rm -rf "$STAGE" "$DMG"
mkdir -p "$STAGE"
ditto "$APP" "$STAGE/Renewal Desk.app"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "Renewal Desk $VERSION" -srcfolder "$STAGE" -fs HFS+ \
  -format UDZO -imagekey zlib-level=9 -ov "$DMG" >/dev/null || fail "hdiutil could not make $DMG"
rm -rf "$STAGE"

if [ -n "$SIGN_IDENTITY" ]; then
  codesign --force --timestamp --sign "$SIGN_IDENTITY" "$DMG" || fail "signing $DMG failed"
  if [ -n "$NOTARY_PROFILE" ]; then
    echo "Notarizing $DMG (this waits for Apple's answer)"
    xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait \
      || fail "notarization failed; see: xcrun notarytool log <id> --keychain-profile $NOTARY_PROFILE"
    xcrun stapler staple "$DMG" || fail "stapling the notarization ticket failed"
    spctl --assess --type open --context context:primary-signature --verbose "$DMG" \
      || fail "Gatekeeper does not accept $DMG"
  else
    echo "MACOS_NOTARY_PROFILE is not set: skipping notarization."
  fi
else
  echo "MACOS_SIGN_IDENTITY is not set: skipping signing and notarization of the disk image."
fi

echo "App: $APP ($(du -sh "$APP" | cut -f1)), built in ${build_seconds} s"
echo "Disk image: $DMG ($(du -sh "$DMG" | cut -f1))"
