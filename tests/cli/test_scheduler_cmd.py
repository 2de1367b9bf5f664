"""``scheduler once`` and ``scheduler run``: the timer service from the command line."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.cli import REPO, Cli, json_lines, subprocess_cli
from tests.conftest import PG_ADMIN_URL

PLUGIN_CALLS: list[dict[str, Any]] = []


def dnr_on_issue(request: dict[str, Any]) -> dict[str, Any]:
    """A test plugin: lets create and accept through, answers do not renew on issue."""
    PLUGIN_CALLS.append(request)
    return {"autoRenewalState": "doNotRenew"} if request["renewalEvent"] == "issue" else {}


def broken(request: dict[str, Any]) -> dict[str, Any]:
    """A test plugin with a bug."""
    raise ZeroDivisionError("division by zero in the loss-ratio rule")


@pytest.fixture
def cli(db_url, db, admin, make_user, capsys) -> Cli:
    make_user("producer", "pat")
    make_user("csr", "casey")
    return Cli(db_url, "admin", capsys)


def _book(cli: Cli, *, end: str = "2027-03-01", policies: int = 1) -> list[str]:
    """Plan 60/30/15 days, one account on it, ``policies`` BOP policies ending at ``end``."""
    cli.ok(
        "plan", "add", "Standard", "--create-lead-days", "60", "--accept-lead-days", "30",
        "--issue-lead-days", "15",
    )  # fmt: skip
    cli.ok("account", "add", "Harbor Bakery", "--producer", "pat", "--csr", "casey")
    cli.ok("account", "set-plan", "Harbor Bakery", "Standard")
    start = (date.fromisoformat(end) - timedelta(days=365)).isoformat()
    numbers = []
    for n in range(policies):
        number = f"BOP-{n + 1}"
        cli.ok(
            "policy", "add", number, "--account", "Harbor Bakery", "--carrier", "Travelers",
            "--lob", "BOP", "--start", start, "--end", end, "--premium", "2000",
        )  # fmt: skip
        numbers.append(number)
    return numbers


def _auto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["kind"] == "auto_renewal"]


# --------------------------------------------------------------------------- once


def test_once_fires_each_trigger_once_as_json_lines(cli):
    _book(cli, policies=2)
    code, out, err = cli("scheduler", "once", "--now", "2027-01-01T12:00:00Z")
    assert code == 0, err
    rows = json_lines(out)
    created = _auto(rows)
    assert sorted(r["policy_number"] for r in created) == ["BOP-1", "BOP-2"]
    assert {(r["event"], r["outcome"], r["state"]) for r in created} == {
        ("create", "created", "active")
    }
    assert all(r["at"] == "2027-01-01T12:00:00+00:00" and r["renewal_id"] for r in created)
    # The readable summary is on stderr, so stdout stays pure JSON Lines.
    assert err.startswith("Tick as of January 1, 2027 at 12:00 PM: create created ×2")
    assert len(err.splitlines()) == 1

    code, out, err = cli("scheduler", "once", "--now", "2027-01-01T12:00:00Z", "--json")
    assert (code, out, err) == (0, "", "")  # nothing is due twice

    # A week past the issue time: the missed accept and issue fire now, in order.
    later = cli("scheduler", "once", "--now", "2027-02-21T12:00:00Z", "--json")
    assert later[0] == 0 and later[2] == ""
    fired = _auto(json_lines(later[1]))
    assert [(r["policy_number"], r["event"], r["outcome"]) for r in fired] == [
        ("BOP-1", "accept", "accepted"),
        ("BOP-1", "issue", "issued"),
        ("BOP-2", "accept", "accepted"),
        ("BOP-2", "issue", "issued"),
    ]
    assert cli("scheduler", "once", "--now", "2027-02-21T12:00:00Z", "--json")[1] == ""

    every = [*created, *fired]
    counted = Counter((r["auto_renewal_id"], r["event"]) for r in every)
    assert set(counted.values()) == {1}
    detail = cli.json("policy", "show", "BOP-1")
    assert [t["end"] for t in detail["terms"]] == [
        "2027-03-01T00:00:00+00:00",
        "2028-03-01T00:00:00+00:00",
    ]
    done, following = detail["auto_renewals"]
    assert done["state"] == "issued"
    assert done["fired"] == {
        "create": "2027-01-01T12:00:00+00:00",
        "accept": "2027-02-21T12:00:00+00:00",
        "issue": "2027-02-21T12:00:00+00:00",
    }
    assert following["state"] == "active" and following["fired"]["create"] is None


def test_once_with_a_bare_date_ticks_at_midnight_in_the_agency_zone(cli):
    cli.ok("agency", "time-zone", "America/New_York")
    _book(cli)
    rows = json_lines(cli.ok("scheduler", "once", "--now", "2026-12-31", "--json"))
    (created,) = _auto(rows)
    assert created["at"] == "2026-12-31T05:00:00+00:00"  # create time = midnight, New York


def test_dnr_from_a_plugin_keeps_the_issue_pending_until_reactivated(cli, monkeypatch):
    monkeypatch.setenv("RENEWAL_DESK_PLUGINS", "tests.cli.test_scheduler_cmd:dnr_on_issue")
    PLUGIN_CALLS.clear()
    _book(cli)
    rows = _auto(json_lines(cli.ok("scheduler", "once", "--now", "2027-02-20T00:00:00Z")))
    assert [(r["event"], r["outcome"]) for r in rows] == [
        ("create", "created"),
        ("accept", "accepted"),
        ("issue", "stopped"),
    ]
    assert rows[-1]["state"] == "doNotRenew"
    assert rows[-1]["note"] == "The plugin marked the policy do not renew, so nothing was done."
    assert [c["renewalEvent"] for c in PLUGIN_CALLS] == ["create", "accept", "issue"]
    assert set(PLUGIN_CALLS[0]) == {"renewalEvent", "autoRenewal"}

    detail = cli.json("policy", "show", "BOP-1")
    assert detail["renewals"][0]["state"] == "accepted"
    assert detail["auto_renewals"][0]["fired"]["issue"] is None  # still pending
    rid = str(detail["renewals"][0]["id"])
    assert "marked do not renew" in cli.refused("renewal", "advance", rid, "--to", "issued")
    rows = json_lines(cli.ok("scheduler", "once", "--now", "2027-02-21T00:00:00Z", "--json"))
    assert _auto(rows) == []  # housekeeping may flag the stalled renewal; no trigger fires

    monkeypatch.delenv("RENEWAL_DESK_PLUGINS")
    cli.ok("auto-renewal", "reactivate", "BOP-1")
    rows = _auto(json_lines(cli.ok("scheduler", "once", "--now", "2027-02-22T00:00:00Z")))
    assert [(r["event"], r["outcome"], r["state"]) for r in rows] == [("issue", "issued", "issued")]


def test_a_plugin_that_cannot_load_stops_every_trigger_exit_1(cli, monkeypatch):
    _book(cli)
    monkeypatch.setenv("RENEWAL_DESK_PLUGINS", "no_such_package.rules:plugin")
    code, out, err = cli("scheduler", "once", "--now", "2027-01-01T12:00:00Z", "--json")
    assert code == 1 and "Traceback" not in err
    assert _auto(json_lines(out)) == []
    lines = err.splitlines()
    assert lines == [
        "renewal-desk: The plugin no_such_package.rules:plugin could not be loaded: "
        "No module named 'no_such_package'.",
        "renewal-desk: No auto-renewal trigger fired until the plugin loads.",
    ]
    assert cli.json("auto-renewal", "show", "BOP-1")[0]["fired"]["create"] is None


def test_a_plugin_that_raises_costs_only_its_auto_renewal_and_no_traceback(cli, monkeypatch):
    _book(cli)
    monkeypatch.setenv("RENEWAL_DESK_PLUGINS", "tests.cli.test_scheduler_cmd:broken")
    code, out, err = cli("scheduler", "once", "--now", "2027-01-01T12:00:00Z", "--json")
    assert (code, err) == (0, "")  # the tick did its work; the error is on the auto-renewal
    (row,) = _auto(json_lines(out))
    assert (row["event"], row["outcome"], row["state"]) == ("create", "error", "error")
    assert "ZeroDivisionError: division by zero in the loss-ratio rule" in row["note"]
    (ar,) = cli.json("auto-renewal", "show", "BOP-1")
    assert ar["state"] == "error" and ar["error"] == row["note"]
    assert ar["fired"]["create"] is None  # still pending: fires once reactivated


def test_once_refuses_bad_now_and_non_admin_now(cli, db):
    _book(cli)
    assert cli.refused("scheduler", "once", "--now", "2027-01-01T12:00") == (
        "Argument --now: '2027-01-01T12:00' has no UTC offset; add one, like "
        "2027-01-01T12:00Z or 2027-01-01T12:00-05:00."
    )
    assert "is not an ISO 8601 time" in cli.refused("scheduler", "once", "--now", "soon")
    assert cli.refused("scheduler", "once", "--now", "2027-01-01T12:00:00Z", user="casey") == (
        "Only an admin may tick as of another time (--now); leave it out to tick as of now."
    )
    assert cli.json("auto-renewal", "show", "BOP-1")[0]["fired"]["create"] is None


def test_once_as_a_child_process(cli, db_url):
    _book(cli)
    done = subprocess_cli(db_url, "admin", "scheduler", "once", "--now", "2027-02-20T00:00:00Z")
    assert done.returncode == 0, done.stderr
    rows = _auto(json_lines(done.stdout))
    assert [r["event"] for r in rows] == ["create", "accept", "issue"]
    assert done.stderr.startswith("Tick as of February 20, 2027")
    again = subprocess_cli(
        db_url, "admin", "scheduler", "once", "--now", "2027-02-20T00:00:00Z", "--json"
    )
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


# --------------------------------------------------------------------------- run


class _Child:
    """``scheduler run`` as a child process, its output read as it comes (raw reads, so
    nothing sits unseen in a buffer), under deadlines."""

    def __init__(self, db_url: str, *argv: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_app", "--database-url", db_url, "--as", "admin",
             "scheduler", "run", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=dict(os.environ),
        )  # fmt: skip
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.fds = {"out": self.proc.stdout.fileno(), "err": self.proc.stderr.fileno()}
        self.data = {"out": b"", "err": b""}
        self.open = {"out", "err"}

    def _pump(self, wait: float) -> None:
        fds = [self.fds[name] for name in self.open]
        if not fds:
            time.sleep(wait)
            return
        ready, _, _ = select.select(fds, [], [], wait)
        for name in list(self.open):
            if self.fds[name] in ready:
                chunk = os.read(self.fds[name], 65536)
                if chunk:
                    self.data[name] += chunk
                else:
                    self.open.discard(name)

    def text(self, stream: str) -> str:
        return self.data[stream].decode()

    def wait_for(self, stream: str, needle: str, timeout: float = 30) -> str:
        """Read until a complete line of ``stream`` contains ``needle``; return that line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text(stream).splitlines(keepends=True):
                if needle in line and line.endswith("\n"):
                    return line
            if stream not in self.open:
                break
            self._pump(0.2)
        raise AssertionError(f"no {needle!r} on std{stream} in {timeout} s: {self.data!r}")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        deadline = time.monotonic() + 30
        while self.open and time.monotonic() < deadline:
            self._pump(0.2)
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        return code, self.text("out"), self.text("err")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()


def _due_now(cli: Cli) -> None:
    """A policy whose create trigger is already due by the real clock (ends in 30 days)."""
    end = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    _book(cli, end=end)


def test_run_fires_due_triggers_and_stops_cleanly_on_sigterm(cli, db_url):
    _due_now(cli)
    child = _Child(db_url, "--interval", "0.3")
    try:
        line = child.wait_for("out", '"event": "create"')
        code, out, err = child.stop(signal.SIGTERM)
    finally:
        child.kill()
    assert code == 0, err
    assert "Traceback" not in err
    rows = json_lines(out)
    created = [r for r in _auto(rows) if r["event"] == "create"]
    assert len(created) == 1 and created[0]["outcome"] == "created"
    assert created[0] == json_lines(line)[0]
    assert "SIGTERM received; stopping after the current tick." in err
    assert "renewal-desk: Stopped after" in err
    # The accept trigger (30 days before the end) is due too: it fired, exactly once.
    assert [r["event"] for r in _auto(rows)].count("accept") == 1


def test_run_stops_on_sigint_while_idle(cli, db_url):
    child = _Child(db_url, "--interval", "30")
    try:
        child.wait_for("err", "Timer service running on")
        time.sleep(0.5)
        code, out, err = child.stop(signal.SIGINT)
    finally:
        child.kill()
    assert code == 0, err
    assert out.strip() == "" and "SIGINT received" in err and "Traceback" not in err


def test_run_rides_out_a_database_outage(cli, db_url):
    """PostgreSQL refuses connections for a while: the loop says so, backs off, recovers,
    and fires what came due meanwhile."""
    if not db_url.startswith("postgresql"):
        pytest.skip("a server outage is a PostgreSQL thing (a SQLite file has no server)")
    name = make_url(db_url).database
    server = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def outage(on: bool) -> None:
        with server.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(not on).lower()}'))
            if on:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )

    child = _Child(db_url, "--interval", "0.3")
    try:
        child.wait_for("err", "Timer service running on")
        outage(True)
        warning = child.wait_for("err", "trying again in")
        assert "Traceback" not in warning
        time.sleep(1.5)  # at least one more failed attempt, with a longer back-off
        outage(False)
        _due_now(cli)  # meanwhile work came due
        child.wait_for("err", "The database is reachable again", timeout=60)
        child.wait_for("out", '"event": "create"', timeout=30)
        code, _out, err = child.stop()
    finally:
        outage(False)
        server.dispose()
        child.kill()
    assert code == 0
    assert "Traceback" not in err
    retries = [line for line in err.splitlines() if "trying again in" in line]
    assert retries[0].endswith("trying again in 1 s.")
    assert len(retries) >= 2 and retries[1].endswith("trying again in 2 s.")
