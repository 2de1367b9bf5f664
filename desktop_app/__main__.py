"""``python -m desktop_app`` and the ``renewal-desk`` command."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["--self-test"]:  # proves an installation complete (installers/)
        from desktop_app.selftest import run as self_test

        sys.exit(self_test(sys.argv[2:]))
    from desktop_app.cli.main import run

    sys.exit(run())


def gui_main() -> None:
    from desktop_app.cli.main import run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
