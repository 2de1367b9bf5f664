"""The app icon set in resources/icons/ (made by installers/make_icons.py) is what the
installers need: every PNG size, a Windows .ico and a macOS .icns that decode."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage, QImageReader

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "make_icons", ROOT / "installers" / "make_icons.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_icons = _generator()


@pytest.mark.parametrize("size", make_icons.PNG_SIZES)
def test_png_sizes(size: int) -> None:
    image = QImage(str(ICONS / f"renewal-desk-{size}.png"))
    assert not image.isNull()
    assert (image.width(), image.height()) == (size, size)
    assert image.pixelColor(0, 0).alpha() == 0  # rounded corner: transparent
    assert image.pixelColor(size // 2, size - size // 8).alpha() == 255  # the square


def test_windows_ico_has_every_size(qapp: object) -> None:
    reader = QImageReader(str(ICONS / "renewal-desk.ico"))
    assert reader.canRead(), reader.errorString()
    sizes = []
    for index in range(reader.imageCount()):
        assert reader.jumpToImage(index)
        image = reader.read()
        assert not image.isNull(), reader.errorString()
        sizes.append(image.width())
        # not blank: the white arrow on the blue square
        assert image.pixelColor(image.width() // 2, image.height() // 4).lightness() > 200
    assert sorted(sizes) == sorted(make_icons.ICO_SIZES)


def test_macos_icns_chunks_are_pngs_of_their_size(qapp: object) -> None:
    data = (ICONS / "renewal-desk.icns").read_bytes()
    assert data[:4] == b"icns"
    assert struct.unpack(">I", data[4:8])[0] == len(data)
    found = {}
    offset = 8
    while offset < len(data):
        kind = data[offset : offset + 4].decode("ascii")
        (length,) = struct.unpack(">I", data[offset + 4 : offset + 8])
        image = QImage.fromData(data[offset + 8 : offset + length], "PNG")
        assert not image.isNull(), kind
        found[kind] = image.width()
        offset += length
    assert offset == len(data)
    assert found == dict(make_icons.ICNS_TYPES)
    # Qt's own icns reader agrees.
    buffer = QBuffer()
    buffer.setData(QByteArray(data))
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer, QByteArray(b"icns"))
    assert reader.canRead(), reader.errorString()
    assert not reader.read().isNull()
