"""``python -m desktop_app`` and the ``renewal-desk`` command."""

from __future__ import annotations

import sys


def main() -> None:
    from desktop_app.cli.main import run

    sys.exit(run())


def gui_main() -> None:
    from desktop_app.cli.main import run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
