"""The plugin hook: finding plugins, calling several, and the example premium plugin.

Plugins are real modules written to a temporary folder and found the ways an agency
configures them: ``RENEWAL_DESK_PLUGINS``, the desktop's settings file, and the
``renewal_desk.auto_renewal_plugins`` entry-point group of an installed package.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from desktop_app.domain.enums import AuditSource, AutoRenewalState, TransactionState
from desktop_app.engine import plugins as plugin_mod
from desktop_app.engine import timer
from desktop_app.engine.plugins import Plugin, PluginSet
from desktop_app.errors import RuleViolation
from desktop_app.plugins import premium_threshold
from desktop_app.services import renewals, transactions
from desktop_app.settings import Settings
from tests.engine.conftest import ACCEPT_AT, CREATE_AT, ISSUE_AT, Book, PluginRecorder
from tests.helpers import dump_database

A = AutoRenewalState
S = TransactionState
PREMIUM_PLUGIN = "desktop_app.plugins.premium_threshold:plugin"

PLUGIN_SOURCE = '''
"""A plugin an agency might write: it notes every request in a JSON-lines file."""
import json, os

def note(request):
    with open(os.environ["{env}"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(request) + "\\n")
    return {answer}
'''


def write_plugin_module(
    folder: Path, monkeypatch: pytest.MonkeyPatch, answer: str = "None"
) -> tuple[str, Path]:
    """A plugin module in ``folder`` (importable); returns its module name and log file."""
    name = f"agency_plugin_{uuid.uuid4().hex[:8]}"
    env = f"RD_TEST_LOG_{name.upper()}"
    log = folder / f"{name}.jsonl"
    (folder / f"{name}.py").write_text(PLUGIN_SOURCE.format(env=env, answer=answer), "utf-8")
    monkeypatch.setenv(env, str(log))
    return name, log


def read_log(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text("utf-8").splitlines()]


@pytest.fixture
def plugin_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


# --------------------------------------------------------------------------- finding them


def test_a_plugin_named_in_the_environment_is_called_by_the_timer(
    agency: Book, plugin_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``RENEWAL_DESK_PLUGINS="package.module:callable,…"`` — a tick that is not handed a
    plugin set loads them itself."""
    module, log = write_plugin_module(plugin_folder, monkeypatch)
    monkeypatch.setenv(plugin_mod.ENV_VAR, f"{module}:note")
    loaded = plugin_mod.load_plugins(entry_point_group=False)
    assert [p.name for p in loaded.plugins] == [f"{module}:note"]
    assert loaded.problems == ()
    report = timer.tick(agency.db, now=CREATE_AT, housekeeping=False)
    assert report.errors == []
    assert [(r["renewalEvent"], r["autoRenewal"]["policyNumber"]) for r in read_log(log)] == [
        ("create", agency.number)
    ]


def test_a_plugin_named_in_the_settings_file_is_found(
    plugin_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the environment variable, the desktop's settings file lists the plugins."""
    module, _log = write_plugin_module(plugin_folder, monkeypatch)
    monkeypatch.delenv(plugin_mod.ENV_VAR, raising=False)
    Settings(plugins=[f"{module}:note"]).save()
    assert plugin_mod.configured_specs() == [f"{module}:note"]
    loaded = plugin_mod.load_plugins(entry_point_group=False)
    assert [p.name for p in loaded.plugins] == [f"{module}:note"]
    # the environment wins over the file (an empty value switches them all off)
    monkeypatch.setenv(plugin_mod.ENV_VAR, "")
    assert plugin_mod.load_plugins(entry_point_group=False).plugins == ()


def test_a_plugin_in_the_entry_point_group_of_an_installed_package_is_found(
    agency: Book, plugin_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packages register plugins in the ``renewal_desk.auto_renewal_plugins`` group."""
    module, log = write_plugin_module(plugin_folder, monkeypatch)
    dist = plugin_folder / f"{module}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", "utf-8"
    )
    (dist / "entry_points.txt").write_text(
        f"[{plugin_mod.ENTRY_POINT_GROUP}]\nnotes = {module}:note\n", "utf-8"
    )
    loaded = plugin_mod.load_plugins(specs=[])
    names = [p.name for p in loaded.plugins]
    assert f"notes ({module}:note)" in names
    mine = PluginSet(
        tuple(p for p in loaded.plugins if p.name == f"notes ({module}:note)"), (), 5.0
    )
    agency.tick(CREATE_AT, mine)
    assert [r["renewalEvent"] for r in read_log(log)] == ["create"]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (
            "no_such_module_xyz:plugin",
            "The plugin no_such_module_xyz:plugin could not be loaded: "
            "No module named 'no_such_module_xyz'.",
        ),
        (
            "desktop_app.plugins.premium_threshold",
            "The plugin desktop_app.plugins.premium_threshold could not be loaded: "
            "'desktop_app.plugins.premium_threshold' is not of the form package.module:callable.",
        ),
        (
            "desktop_app.plugins.premium_threshold:DEFAULT_THRESHOLD",
            "The plugin desktop_app.plugins.premium_threshold:DEFAULT_THRESHOLD could not be "
            "loaded: 'desktop_app.plugins.premium_threshold:DEFAULT_THRESHOLD' is not callable.",
        ),
    ],
    ids=["missing", "no-callable", "not-callable"],
)
def test_a_configured_plugin_that_cannot_load_stops_every_trigger(
    agency: Book, spec: str, problem: str
) -> None:
    """Firing without a configured plugin could issue what the plugin would have stopped,
    so nothing fires and the tick says why, in sentences."""
    loaded = plugin_mod.load_plugins([spec], entry_point_group=False)
    assert loaded.problems == (problem,)
    before = dump_database(agency.db)
    report = timer.tick(agency.db, now=ISSUE_AT, plugins=loaded, housekeeping=False)
    assert report.actions == []
    assert report.errors == [problem, "No auto-renewal trigger fired until the plugin loads."]
    assert dump_database(agency.db) == before
    assert report.next_due == CREATE_AT


def test_the_time_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``RENEWAL_DESK_PLUGIN_TIMEOUT`` sets the limit; nonsense falls back to the default."""
    monkeypatch.setenv(plugin_mod.TIMEOUT_ENV_VAR, "2.5")
    assert plugin_mod.load_plugins([], entry_point_group=False).timeout == 2.5
    monkeypatch.setenv(plugin_mod.TIMEOUT_ENV_VAR, "soon")
    assert (
        plugin_mod.load_plugins([], entry_point_group=False).timeout
        == plugin_mod.DEFAULT_TIMEOUT_SECONDS
    )


# --------------------------------------------------------------------------- several plugins


def test_every_plugin_gets_the_same_request_and_the_later_answer_wins(agency: Book) -> None:
    """Every registered plugin is called; where two answer the same key, the later wins.
    A plugin that scribbles on its request cannot change what the next one sees."""

    def scribbler(request: dict[str, Any]) -> dict[str, Any]:
        request["autoRenewal"]["renewalTransactionType"] = "scribbled"
        request["renewalEvent"] = "issue"
        return {"renewalTransactionType": "first", "newTermDuration": 6}

    first = PluginRecorder(answer=scribbler, name="first")
    second = PluginRecorder(answer={"renewalTransactionType": "second"}, name="second")
    plugins = PluginSet((Plugin("first", first), Plugin("second", second)), ())
    agency.tick(CREATE_AT, plugins)
    assert second.requests[0]["renewalEvent"] == "create"
    assert second.requests[0]["autoRenewal"]["renewalTransactionType"] == "renewal"
    renewal = agency.renewal(agency.ar().renewal_id)
    assert renewal.transaction_type == "second"
    assert agency.ar().new_term_months == 6
    answers = [e for e in agency.audit() if e.action == "plugin.answer"]
    assert [e.changes["plugin"][1] for e in answers] == ["first", "second"]
    assert {e.source for e in answers} == {AuditSource.PLUGIN}


def test_one_plugin_failing_fails_the_firing_even_if_another_answered(agency: Book) -> None:
    """An auto-renewal whose plugins disagree by one raising goes to error: half an answer
    is not an answer."""

    def boom(request: dict[str, Any]) -> Any:
        raise KeyError("premium")

    fine = PluginRecorder(answer={"newTermDuration": 6}, name="fine")
    plugins = PluginSet((Plugin("fine", fine), Plugin("broken", boom)), ())
    agency.tick(CREATE_AT, plugins)
    ar = agency.ar()
    assert ar.state is A.ERROR and ar.new_term_months == 12
    assert (
        ar.last_error == "The create trigger failed: The plugin broken failed: KeyError: 'premium'"
    )
    assert agency.renewals() == []


# --------------------------------------------------------------------------- the example


def _premium_plugin() -> PluginSet:
    return plugin_mod.load_plugins([PREMIUM_PLUGIN], entry_point_group=False)


def test_the_premium_plugin_marks_do_not_renew_when_the_premium_rises_past_the_threshold(
    agency: Book,
) -> None:
    """The example plugin: a renewal whose new premium is more than 25 % above the expiring
    one is stopped before it is accepted; the answer is in the renewal's activity (source
    ``plugin``) and the renewal's owner gets a notice."""
    agency.tick(CREATE_AT, _premium_plugin())
    renewal_id = agency.ar().renewal_id
    renewals.update_renewal(agency.db, agency.csr, renewal_id, new_premium="$12,600.00")
    report = agency.tick(ACCEPT_AT, _premium_plugin())
    assert [(a["event"], a["outcome"]) for a in report.actions] == [("accept", "stopped")]
    ar = agency.ar()
    assert ar.state is A.DO_NOT_RENEW
    assert agency.renewal(renewal_id).transaction_state is S.DRAFT
    (answer,) = [e for e in agency.audit("renewals", renewal_id) if e.action == "plugin.answer"]
    assert answer.source is AuditSource.PLUGIN
    assert answer.changes == {
        "plugin": [None, PREMIUM_PLUGIN],
        "event": [None, "accept"],
        "answer": [None, {"autoRenewalState": "doNotRenew"}],
    }
    (notice,) = agency.notices("plugin")
    assert notice.renewal_id == renewal_id
    assert notice.user_id == agency.renewal(renewal_id).next_action_owner_id
    assert notice.message == (
        f"The plugin {PREMIUM_PLUGIN} marked the policy do not renew on the accept event."
    )
    with pytest.raises(RuleViolation, match=r"^The policy is marked do not renew"):
        transactions.advance(agency.db, agency.manager, renewal_id, "issued")


def test_the_premium_plugin_lets_a_modest_increase_through(agency: Book) -> None:
    """Below the threshold (here +20 %) the plugin answers nothing: no activity, no notice."""
    agency.tick(CREATE_AT, _premium_plugin())
    renewal_id = agency.ar().renewal_id
    renewals.update_renewal(agency.db, agency.csr, renewal_id, new_premium="12000")
    report = agency.tick(ISSUE_AT, _premium_plugin())
    assert [(a["event"], a["outcome"]) for a in report.actions] == [
        ("accept", "accepted"),
        ("issue", "issued"),
    ]
    assert [e for e in agency.audit() if e.action == "plugin.answer"] == []
    assert agency.notices("plugin") == []


def test_the_premium_plugin_threshold_is_configurable(
    agency: Book, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``RENEWAL_DESK_PREMIUM_THRESHOLD`` (a fraction) moves the line: 5 % stops +10 %."""
    monkeypatch.setenv("RENEWAL_DESK_PREMIUM_THRESHOLD", "0.05")
    agency.tick(CREATE_AT, _premium_plugin())
    renewal_id = agency.ar().renewal_id
    renewals.update_renewal(agency.db, agency.csr, renewal_id, new_premium="11000")
    agency.tick(ISSUE_AT, _premium_plugin())
    assert agency.ar().state is A.DO_NOT_RENEW
    assert len(agency.terms()) == 1


def test_the_premium_plugin_only_judges_accept_and_issue(agency: Book) -> None:
    """At create there is no new premium yet; it answers nothing (pure function check)."""
    request = {
        "renewalEvent": "create",
        "autoRenewal": {"termPremium": "100.00", "renewalNewPremium": "900.00"},
    }
    assert premium_threshold.plugin(request) == {}
    request["renewalEvent"] = "issue"
    assert premium_threshold.plugin(request) == {"autoRenewalState": "doNotRenew"}
    request["autoRenewal"] = {"termPremium": "0", "renewalNewPremium": "900.00"}
    assert premium_threshold.plugin(request) == {}
    assert premium_threshold.plugin({"renewalEvent": "issue", "autoRenewal": {}}) == {}


def test_the_premium_plugin_on_the_issue_event_after_a_late_premium_change(
    agency: Book,
) -> None:
    """A premium that rises after acceptance is caught at the issue event."""
    agency.tick(ACCEPT_AT, _premium_plugin())
    renewal_id = agency.ar().renewal_id
    renewals.update_renewal(agency.db, agency.csr, renewal_id, new_premium="20000")
    report = agency.tick(ISSUE_AT + timedelta(days=1), _premium_plugin())
    assert [(a["event"], a["outcome"]) for a in report.actions] == [("issue", "stopped")]
    assert agency.renewal(renewal_id).transaction_state is S.ACCEPTED
    assert agency.ar().fired_issue_at is None
