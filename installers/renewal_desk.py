"""The frozen build's entry point (see renewal-desk.spec): the same ``main`` as the
``renewal-desk`` command, so no arguments open the desktop app, a command runs it, and
``--self-test`` checks the build."""

from desktop_app.__main__ import main

if __name__ == "__main__":
    main()
