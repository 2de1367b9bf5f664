"""Regression guard: PySide6 6.12.0 drops a reference to ``None`` on every call of a void
C++ method (``QLabel.setText`` …). On CPython 3.11, where ``None`` is an ordinary
reference-counted object, the count runs down within a few thousand calls and the process
aborts with "Fatal Python error: none_dealloc". CPython 3.12 made ``None`` immortal, so
there the leak is harmless. pyproject.toml therefore caps PySide6 below 6.12 on 3.11.

The check runs in a subprocess: when the bug is present the interpreter dies, and it must
not take the test run with it.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import textwrap

CALLS = 50_000

SCRIPT = textwrap.dedent(
    f"""
    import sys
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication([])
    label = QLabel()
    before = sys.getrefcount(None)
    for i in range({CALLS}):
        label.setText("renewal")          # void QLabel::setText(const QString &)
        label.setWordWrap(i % 2 == 0)     # void QLabel::setWordWrap(bool)
        label.setToolTip("due")           # void QWidget::setToolTip(const QString &)
        label.setEnabled(True)            # void QWidget::setEnabled(bool)
    after = sys.getrefcount(None)
    print(before, after, flush=True)
    """
)


def _version_tuple(version: str) -> tuple[int, ...]:
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def test_void_calls_do_not_leak_references_to_none() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"the PySide6 process died (exit {result.returncode}); stderr:\n{result.stderr[-2000:]}"
    )
    before, after = (int(n) for n in result.stdout.split()[-2:])
    # Other objects may come to hold None meanwhile; it must never lose references.
    assert after >= before, f"None lost {before - after} references over {CALLS} calls"


def test_installed_pyside6_respects_the_python_311_cap() -> None:
    try:
        version = importlib.metadata.version("PySide6")
    except importlib.metadata.PackageNotFoundError:  # only the Essentials wheel installed
        version = importlib.metadata.version("PySide6_Essentials")
    if sys.version_info < (3, 12):
        assert _version_tuple(version) < (6, 12), (
            f"PySide6 {version} on Python {sys.version.split()[0]}: 6.12 aborts with "
            "'none_dealloc' on 3.11; pyproject.toml pins PySide6<6.12 there"
        )
    else:
        assert _version_tuple(version) >= (6, 8)
