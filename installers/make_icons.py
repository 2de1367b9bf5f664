"""Draw the Renewal Desk app icon and write every size the installers need.

    python installers/make_icons.py [OUT_DIR]     (default: resources/icons)

Writes ``renewal-desk-<N>.png`` for N in 16 … 1024, ``renewal-desk.ico`` (Windows:
16-256, the small sizes as classic 32-bit bitmaps, 256 as PNG) and ``renewal-desk.icns``
(macOS: PNG chunks icp4 … ic10). Only Qt is needed: QPainter draws, QImage writes PNG,
and the two container formats are written here (both are a header, a directory and the
images).

The picture is the one in ``renewal-desk.svg`` (the window icon): a blue rounded square
with a renewal arrow closing around a check mark. The small sizes get thicker strokes
and a flat fill so they stay crisp; the macOS icon sits on Apple's 1024 grid (an 824
body with a soft shadow) like the other apps in the Dock.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QGuiApplication,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPen,
)

ROOT = Path(__file__).resolve().parent.parent
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICO_PNG_FROM = 256  # frames this size and up are stored as PNG, smaller as bitmaps
# icns chunk type -> pixel size (the @2x types are the same pictures, named for Retina).
ICNS_TYPES = (
    ("icp4", 16),
    ("icp5", 32),
    ("ic11", 32),
    ("ic12", 64),
    ("ic07", 128),
    ("ic13", 256),
    ("ic08", 256),
    ("ic14", 512),
    ("ic09", 512),
    ("ic10", 1024),
)

ACCENT = QColor("#2457c5")
TOP = QColor("#3b73e3")
BOTTOM = QColor("#1c47a6")


def draw(size: int, *, macos: bool = False) -> QImage:
    """The icon at ``size`` x ``size`` pixels, transparent outside the rounded square."""
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    small = size <= 32
    if macos:  # Apple's grid: an 824 x 824 body on 1024, corner radius ~22.5 %
        margin = size * 100 / 1024
        body = QRectF(margin, margin * 0.8, size - 2 * margin, size - 2 * margin)
        radius = body.width() * 0.225
        _shadow(painter, body, radius, size)
    else:  # the SVG's grid: a 56 body on 64 (a little fuller when tiny)
        margin = size * (1 if small else 4) / 64
        body = QRectF(margin, margin, size - 2 * margin, size - 2 * margin)
        radius = body.width() * 12 / 56
    if small:
        fill: QBrush | QColor = ACCENT
    else:
        gradient = QLinearGradient(body.topLeft(), body.bottomLeft())
        gradient.setColorAt(0.0, TOP)
        gradient.setColorAt(1.0, BOTTOM)
        fill = QBrush(gradient)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(fill)
    painter.drawRoundedRect(body, radius, radius)
    if not small:  # a hairline of light along the top edge gives the square some depth
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(255, 255, 255, 46), max(1.0, size / 256)))
        inset = max(0.5, size / 512)
        painter.drawRoundedRect(body.adjusted(inset, inset, -inset, -inset), radius, radius)
    _glyph(painter, body, small=small, tiny=size <= 16)
    painter.end()
    return image


def _shadow(painter: QPainter, body: QRectF, radius: float, size: int) -> None:
    """A soft drop shadow: widening, fading rounded squares a little below the body."""
    painter.setPen(Qt.PenStyle.NoPen)
    steps = 16
    spread, drop = size * 22 / 1024, size * 10 / 1024
    for i in range(steps, 0, -1):
        grow = spread * i / steps
        painter.setBrush(QColor(0, 0, 0, 4))
        shadow = body.adjusted(-grow, -grow + drop, grow, grow + drop)
        painter.drawRoundedRect(shadow, radius + grow, radius + grow)


def _glyph(painter: QPainter, body: QRectF, *, small: bool, tiny: bool) -> None:
    """The renewal arrow and the check mark, in the SVG's 64-unit coordinates (its body
    runs from 4 to 60), mapped onto ``body``."""
    scale = body.width() / 56

    def at(x: float, y: float) -> QPointF:
        return QPointF(body.left() + (x - 4) * scale, body.top() + (y - 4) * scale)

    white = QColor("#ffffff")
    width = (6.4 if tiny else 5.6 if small else 4.5) * scale
    pen = QPen(white, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)

    # The arrow: a circle of radius 16 around (32, 34), from the top clockwise round to
    # the upper left (300 degrees), ending in a filled head.
    centre, r = at(32, 34), 16 * scale
    arc = QPainterPath()
    arc.arcMoveTo(QRectF(centre.x() - r, centre.y() - r, 2 * r, 2 * r), 90)
    arc.arcTo(QRectF(centre.x() - r, centre.y() - r, 2 * r, 2 * r), 90, -300)
    painter.drawPath(arc)
    head = QPainterPath(at(21.9, 19.4))
    head.lineTo(at(12.6, 23.2))
    head.lineTo(at(23.6, 29.2))
    head.closeSubpath()
    painter.setPen(
        QPen(
            white,
            scale * 1.2,
            Qt.PenStyle.SolidLine,
            Qt.PenCapStyle.RoundCap,
            Qt.PenJoinStyle.RoundJoin,
        )
    )
    painter.setBrush(white)
    painter.drawPath(head)

    # The check mark inside the circle.
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    check = QPainterPath(at(25, 34.5))
    check.lineTo(at(30, 39.5))
    check.lineTo(at(39.5, 29))
    painter.drawPath(check)


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError("Qt could not encode a PNG")
    buffer.close()
    return bytes(data.data())


def _bitmap_frame(image: QImage) -> bytes:
    """An icon frame as Windows stores it classically: a BITMAPINFOHEADER (height doubled
    for the mask), 32-bit BGRA rows bottom-up, then the 1-bit AND mask (all zeros: the
    alpha channel decides)."""
    img = image.convertToFormat(QImage.Format.Format_ARGB32)  # BGRA in memory, straight
    w, h = img.width(), img.height()
    header = struct.pack("<IiiHHIIiiII", 40, w, 2 * h, 1, 32, 0, 0, 0, 0, 0, 0)
    rows = [bytes(img.constScanLine(y))[: 4 * w] for y in range(h - 1, -1, -1)]
    mask_row = bytes(((w + 31) // 32) * 4)
    return header + b"".join(rows) + mask_row * h


def ico_bytes(images: dict[int, QImage]) -> bytes:
    frames = []
    for size in sorted(images):
        image = images[size]
        data = png_bytes(image) if size >= ICO_PNG_FROM else _bitmap_frame(image)
        frames.append((size, data))
    offset = 6 + 16 * len(frames)
    out = [struct.pack("<HHH", 0, 1, len(frames))]
    for size, data in frames:
        dim = 0 if size >= 256 else size  # 0 means 256
        out.append(struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset))
        offset += len(data)
    out.extend(data for _, data in frames)
    return b"".join(out)


def icns_bytes(images: dict[int, QImage]) -> bytes:
    chunks = []
    encoded: dict[int, bytes] = {}
    for kind, size in ICNS_TYPES:
        data = encoded.setdefault(size, png_bytes(images[size]))
        chunks.append(kind.encode("ascii") + struct.pack(">I", 8 + len(data)) + data)
    body = b"".join(chunks)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def write_all(out_dir: Path) -> list[Path]:
    """Write every icon file into ``out_dir``; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    flat = {size: draw(size) for size in PNG_SIZES}
    mac = {size: draw(size, macos=True) for _, size in ICNS_TYPES}
    written = []
    for size, image in flat.items():
        path = out_dir / f"renewal-desk-{size}.png"
        path.write_bytes(png_bytes(image))
        written.append(path)
    ico = out_dir / "renewal-desk.ico"
    ico.write_bytes(ico_bytes({size: flat[size] for size in ICO_SIZES}))
    icns = out_dir / "renewal-desk.icns"
    icns.write_bytes(icns_bytes(mac))
    return [*written, ico, icns]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else ROOT / "resources" / "icons"
    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])
    for path in write_all(out_dir):
        print(f"{path}  ({path.stat().st_size:,} bytes)")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
