"""The README's promises that a script can check."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command():
    block = re.search(r"## Run the tests\s+```sh\n(.+?)\n```", _readme(), re.S)
    assert block, "README has no 'Run the tests' command"
    command = block.group(1).strip()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in ci.splitlines()


def test_every_command_is_documented():
    from desktop_app.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    readme = _readme()
    for name, subparser in sub.choices.items():
        actions = [a for a in subparser._actions if getattr(a, "choices", None)]
        nested = list(actions[0].choices) if actions else [""]
        for action in nested:
            assert f"renewal-desk {name} {action}".strip() in readme, (name, action)


def test_readme_screenshots_exist():
    for link in re.findall(r"\]\((resources/screenshots/[^)]+\.png)\)", _readme()):
        assert (ROOT / link).is_file(), link
