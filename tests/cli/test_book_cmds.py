"""``plan``, ``account``, ``policy``, ``renewal``, ``auto-renewal`` and ``agency`` commands,
run as a user types them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.cli import Cli, one_sentence, subprocess_cli
from tests.helpers import dump_database


@pytest.fixture
def cli(db_url, db, admin, make_user, capsys) -> Cli:
    """The command line as the admin, with a producer (pat) and a CSR (casey) on staff."""
    make_user("producer", "pat")
    make_user("csr", "casey")
    return Cli(db_url, "admin", capsys)


def _book(cli: Cli, *, plan: str | None = "Standard", number: str = "BOP-7") -> None:
    """A plan (60/30/15 days), an account on it, and one BOP policy ending March 1, 2027."""
    if plan is not None:
        cli.ok(
            "plan",
            "add",
            plan,
            "--create-lead-days",
            "60",
            "--accept-lead-days",
            "30",
            "--issue-lead-days",
            "15",
        )
    account = ["account", "add", "Harbor Bakery", "--producer", "pat", "--csr", "casey"]
    cli.ok(*account, *(["--plan", plan] if plan else []))
    cli.ok(
        "policy",
        "add",
        number,
        "--account",
        "Harbor Bakery",
        "--carrier",
        "Travelers",
        "--lob",
        "BOP",
        "--start",
        "2026-03-01",
        "--end",
        "2027-03-01",
        "--premium",
        "$2,000.00",
    )


# --------------------------------------------------------------------------- the manual flow


def test_manual_renewal_with_a_gap_issues_a_second_term(cli):
    cli.ok("agency", "time-zone", "America/New_York")
    _book(cli)
    created = cli.json(
        "renewal", "create", "BOP-7", "--end", "3/1/2028", "--effective", "2027-03-15"
    )
    assert created["state"] == "draft" and created["stage"] == "upcoming"
    assert created["effective"] == "2027-03-15T04:00:00+00:00"  # midnight, New York (EDT)
    assert created["new_end"] == "2028-03-01T05:00:00+00:00"  # midnight, New York (EST)
    assert created["new_premium"] == "2000.00"  # the expiring premium until the carrier's
    rid = str(created["id"])

    # Quoted enters "Proposal sent", whose entry criteria want the documents: refused.
    sentence = cli.refused("renewal", "advance", rid, "--to", "quoted")
    assert sentence.startswith("Cannot move to Proposal sent: it needs the required documents")
    accepted = cli.json("renewal", "advance", rid, "--to", "accepted")
    assert (accepted["state"], accepted["stage"]) == ("accepted", "bound")
    out = cli.ok("renewal", "advance", rid, "--to", "issued")
    assert f"Advanced renewal {rid} of policy BOP-7: issued, stage renewed" in out
    assert "a renewal with a gap" in out

    detail = cli.json("policy", "show", "BOP-7")
    assert detail["policy_number"] == "BOP-7" and detail["carrier"] == "Travelers"
    assert detail["line_of_business"] == "BOP" and detail["status"] == "active"
    assert detail["terms"] == [
        {
            "start": "2026-03-01T05:00:00+00:00",
            "end": "2027-03-01T05:00:00+00:00",
            "premium": "2000.00",
        },
        {
            "start": "2027-03-15T04:00:00+00:00",  # the gap: March 1 to 15 has no term
            "end": "2028-03-01T05:00:00+00:00",
            "premium": "2000.00",
        },
    ]
    (renewal,) = detail["renewals"]
    assert renewal["id"] == int(rid) and renewal["state"] == "issued"
    assert renewal["effective"] == detail["terms"][1]["start"]
    # The plan gave the first term an auto-renewal (now issued: a renewal of its term was
    # issued by hand) and, generating auto-renewals, gives the new term its own.
    first, second = detail["auto_renewals"]
    assert first["term_end"] == detail["terms"][0]["end"] and first["state"] == "issued"
    assert first["fired"] == {"create": None, "accept": None, "issue": None}
    assert second["term_end"] == detail["terms"][1]["end"] and second["state"] == "active"
    assert second["create_time"] == "2028-01-01T05:00:00+00:00"  # 60 days before (leap year)

    readable = cli.ok("policy", "show", "BOP-7")
    assert "March 15, 2027 to March 1, 2028" in readable


def test_renewal_create_refuses_a_new_end_not_after_the_current_end(cli, db):
    _book(cli)
    before = dump_database(db)
    sentence = cli.refused("renewal", "create", "BOP-7", "--end", "2027-03-01")
    assert sentence == (
        "The new end (March 1, 2027) must be after the policy's current end (March 1, 2027)."
    )
    sentence = cli.refused(
        "renewal", "create", "BOP-7", "--end", "2028-03-01", "--effective", "2027-02-01"
    )
    assert "before" in sentence or "overlap" in sentence
    assert dump_database(db) == before


def test_issuing_one_renewal_invalidates_the_other_open_one(cli):
    _book(cli, plan=None)
    a = cli.json("renewal", "create", "BOP-7", "--end", "2028-03-01")["id"]
    b = cli.json("renewal", "create", "BOP-7", "--end", "2028-06-01")["id"]
    cli.ok("renewal", "advance", str(b), "--to", "issued")
    states = {r["id"]: r["state"] for r in cli.json("policy", "show", "BOP-7")["renewals"]}
    assert states == {a: "invalidated", b: "issued"}
    sentence = cli.refused("renewal", "advance", str(a), "--to", "issued")
    assert "invalidated" in sentence


@pytest.mark.parametrize(
    ("verb", "state", "stage", "reason"),
    [
        ("reject", "rejected", "non_renewed", "Carrier leaving the state"),
        ("refuse", "refused", "lost", None),
        ("discard", "discarded", "upcoming", None),
    ],
)
def test_ending_a_renewal_terminates_its_auto_renewal(cli, verb, state, stage, reason):
    _book(cli)
    rid = cli.json("renewal", "create", "BOP-7", "--end", "2028-03-01")["id"]
    cli.ok("auto-renewal", "update", "BOP-7", "--renewal", str(rid))
    extra = ["--reason", reason] if reason else []
    ended = cli.json("renewal", verb, str(rid), *extra)
    assert ended["state"] == state and ended["stage"] == stage
    (ar,) = cli.json("auto-renewal", "show", "BOP-7")
    assert ar["state"] == "terminated" and ar["renewal_id"] == rid
    sentence = cli.refused("renewal", "advance", str(rid), "--to", "accepted")
    assert state in sentence


# --------------------------------------------------------------------------- plans, accounts


def test_plan_add_and_list(cli):
    out = cli.ok("plan", "add", "Hands-on", "--accept-lead-days", "30", "--no-generate")
    assert "Added auto-renewal plan 'Hands-on'" in out and "create by hand" in out
    cli.ok("plan", "add", "Standard", "--create-lead-days", "90", "--term-months", "6")
    plans = cli.json("plan", "list")
    assert [p["name"] for p in plans] == ["Hands-on", "Standard"]
    assert plans[0] == {
        "id": plans[0]["id"],
        "version": 1,
        "name": "Hands-on",
        "create_lead_days": None,
        "accept_lead_days": 30,
        "issue_lead_days": None,
        "new_term_months": 12,
        "transaction_type": "renewal",
        "generate_auto_renewals": False,
    }
    assert plans[1]["new_term_months"] == 6 and plans[1]["generate_auto_renewals"] is True
    sentence = cli.refused("plan", "add", "Standard")
    assert sentence == "There is already an auto-renewal plan named 'Standard'."
    sentence = cli.refused(
        "plan", "add", "Backwards", "--create-lead-days", "10", "--issue-lead-days", "20"
    )
    assert "Backwards" not in [p["name"] for p in cli.json("plan", "list")]
    assert sentence


def test_plans_are_for_managers_and_admins(cli):
    sentence = cli.refused("plan", "add", "Mine", user="casey")
    assert sentence.startswith("A CSR may not")


def test_account_set_plan_gives_existing_policies_auto_renewals(cli):
    _book(cli, plan=None)
    assert cli.json("auto-renewal", "show", "BOP-7") == []
    cli.ok("plan", "add", "Standard", "--create-lead-days", "45")
    result = cli.json("account", "set-plan", "Harbor Bakery", "Standard")
    assert result["plan"] == "Standard" and result["changed"] is True
    (ar,) = cli.json("auto-renewal", "show", "BOP-7")
    assert ar["state"] == "active" and ar["plan"] == "Standard"
    assert ar["create_time"] == "2027-01-15T00:00:00+00:00"  # 45 days before, UTC agency
    assert ar["accept_time"] is None and ar["issue_time"] is None  # manual steps

    account_id = str(result["id"])
    out = cli.ok("account", "set-plan", account_id, "--none")
    assert out == "Account Harbor Bakery has no auto-renewal plan.\n"
    # Taking the plan away leaves the auto-renewal it gave.
    assert cli.json("auto-renewal", "show", "BOP-7")[0]["state"] == "active"
    assert "Name the plan" in cli.refused("account", "set-plan", account_id)
    assert "Name the plan" in cli.refused("account", "set-plan", account_id, "Standard", "--none")


def test_unknown_plan_and_account_say_so(cli, db):
    cli.ok("plan", "add", "Standard")
    before = dump_database(db)
    assert cli.refused("account", "add", "Acme", "--plan", "Gold") == (
        "There is no auto-renewal plan named 'Gold'; the plans are Standard."
    )
    cli.ok("account", "add", "Acme")
    before = dump_database(db)
    assert cli.refused("account", "set-plan", "Acme", "Gold") == (
        "There is no auto-renewal plan named 'Gold'; the plans are Standard."
    )
    assert cli.refused("account", "set-plan", "Nobody Inc", "Standard") == (
        "There is no account named 'Nobody Inc'."
    )
    assert dump_database(db) == before


def test_policy_without_plan_has_no_auto_renewal_until_created(cli):
    _book(cli, plan=None)
    created = cli.json("auto-renewal", "create", "BOP-7")
    # No plan: 60 / 30 / 15 days before the term end, 12 months.
    assert created["create_time"] == "2026-12-31T00:00:00+00:00"
    assert created["accept_time"] == "2027-01-30T00:00:00+00:00"
    assert created["issue_time"] == "2027-02-14T00:00:00+00:00"
    assert created["new_term_months"] == 12 and created["plan"] is None
    sentence = cli.refused("auto-renewal", "create", "BOP-7")
    assert "already has an auto-renewal (active)" in sentence


# --------------------------------------------------------------------------- dates and input


def test_us_and_iso_dates_mean_midnight_in_the_agency_zone(cli):
    cli.ok("agency", "time-zone", "America/Chicago")
    cli.ok("account", "add", "Acme")
    for number, start, end in (
        ("A-1", "2026-07-04", "2027-07-04"),
        ("A-2", "7/4/2026", "7/4/2027"),
    ):
        cli.ok(
            "policy", "add", number, "--account", "Acme", "--carrier", "Chubb",
            "--lob", "home", "--start", start, "--end", end,
        )  # fmt: skip
    one, two = (cli.json("policy", "show", n)["terms"] for n in ("A-1", "A-2"))
    assert one == two
    assert one[0]["start"] == "2026-07-04T05:00:00+00:00"  # midnight CDT


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["renewal", "create", "BOP-7", "--end", "2027-13-01"],
            "Argument --end: '2027-13-01' is not a date (use YYYY-MM-DD or MM/DD/YYYY).",
        ),
        (
            ["renewal", "create", "BOP-7", "--end", "31/12/2027"],
            "Argument --end: '31/12/2027' is not a date (use YYYY-MM-DD or MM/DD/YYYY).",
        ),
        (
            ["renewal", "create", "BOP-7", "--end", "1/5/27"],
            "Argument --end: '1/5/27' is not a date (use YYYY-MM-DD or MM/DD/YYYY).",
        ),
        (
            ["renewal", "create", "NOPE-1", "--end", "2028-03-01"],
            "There is no policy numbered 'NOPE-1'.",
        ),
        (["policy", "show", "NOPE-1"], "There is no policy numbered 'NOPE-1'."),
        (
            ["policy", "show", "BOP-7", "--carrier", "Chubb"],
            "There is no policy numbered 'BOP-7' with carrier Chubb.",
        ),
        (["auto-renewal", "dnr", "NOPE-1"], "There is no policy numbered 'NOPE-1'."),
        (
            ["auto-renewal", "update", "BOP-7", "--issue-time", "2027-02-01T09:00"],
            "Argument --issue-time: '2027-02-01T09:00' has no UTC offset; add one, like "
            "2027-02-01T09:00Z or 2027-02-01T09:00-05:00.",
        ),
        (
            ["auto-renewal", "update", "BOP-7"],
            "Say what to change: --create-time, --accept-time, --issue-time, --renewal, "
            "--transaction-type or --term-months.",
        ),
        (["renewal", "advance", "999", "--to", "issued"], "There is no renewal with id 999."),
        (
            ["renewal", "advance", "abc", "--to", "issued"],
            "Argument RENEWAL_ID: 'abc' is not a whole number.",
        ),
        (
            [
                "policy", "add", "X-1", "--account", "Harbor Bakery", "--carrier", "Chubb",
                "--lob", "YACHT", "--start", "2026-01-01", "--end", "2027-01-01",
            ],
            None,
        ),
        (
            [
                "policy", "add", "X-1", "--account", "Nobody", "--carrier", "Chubb",
                "--lob", "BOP", "--start", "2026-01-01", "--end", "2027-01-01",
            ],
            "There is no account named 'Nobody'.",
        ),
        (["agency", "time-zone", "Mars/Olympus"], None),
    ],
)  # fmt: skip
def test_bad_input_is_one_sentence_and_writes_nothing(cli, db, argv, expected):
    _book(cli)
    before = dump_database(db)
    sentence = cli.refused(*argv)
    if expected is not None:
        assert sentence == expected
    assert dump_database(db) == before


# --------------------------------------------------------------------------- do not renew


def test_do_not_renew_blocks_issue_and_reactivate_lifts_it(cli):
    _book(cli)
    rid = str(cli.json("renewal", "create", "BOP-7", "--end", "2028-03-01")["id"])
    marked = cli.json("auto-renewal", "dnr", "BOP-7")
    assert marked["state"] == "doNotRenew"
    sentence = cli.refused("renewal", "advance", rid, "--to", "issued")
    assert sentence == (
        "The policy is marked do not renew, so none of its renewals can be issued; "
        "reactivate its auto-renewal to lift do not renew."
    )
    assert cli.json("policy", "show", "BOP-7")["renewals"][0]["state"] == "draft"
    # Do not renew is sticky: discarding it would lift the block by the back door.
    assert "do not renew" in cli.refused("auto-renewal", "discard", "BOP-7").lower()
    out = cli.ok("auto-renewal", "reactivate", "BOP-7")
    assert out.startswith("Reactivated the auto-renewal of Travelers policy BOP-7")
    assert cli.json("renewal", "advance", rid, "--to", "issued")["state"] == "issued"
    assert len(cli.json("policy", "show", "BOP-7")["terms"]) == 2


def test_auto_renewal_commands_need_a_manager(cli):
    _book(cli)
    assert cli.refused("auto-renewal", "dnr", "BOP-7", user="casey").startswith("A CSR may not")


# --------------------------------------------------------------------------- cancellation


def test_cancel_resets_the_managed_renewal_and_invalidates_the_auto_renewal(cli):
    _book(cli)
    # The timer creates the renewal and accepts it; then the insured stops paying.
    cli.ok("scheduler", "once", "--now", "2027-02-01T12:00:00Z", "--json")
    detail = cli.json("policy", "show", "BOP-7")
    (renewal,) = detail["renewals"]
    assert renewal["state"] == "accepted"

    out = cli.ok("policy", "cancel", "BOP-7", "--at", "2027-02-05")
    assert "Cancelled Travelers policy BOP-7 as of February 5, 2027." in out
    detail = cli.json("policy", "show", "BOP-7")
    assert detail["status"] == "cancelled"
    assert detail["cancelled_at"] == "2027-02-05T00:00:00+00:00"
    assert detail["renewals"][0]["state"] == "draft"  # reset, not invalidated
    (ar,) = detail["auto_renewals"]
    assert ar["state"] == "invalidated"

    assert cli.refused("auto-renewal", "reactivate", "BOP-7") == (
        "The auto-renewal of a cancelled policy cannot be reactivated."
    )
    assert cli.refused("policy", "cancel", "BOP-7") == (
        "Travelers policy BOP-7 is already cancelled."
    )
    assert cli.refused("renewal", "advance", str(renewal["id"]), "--to", "issued") == (
        "A renewal of a cancelled policy cannot be issued."
    )
    cli.ok("policy", "reinstate", "BOP-7")
    assert cli.json("auto-renewal", "reactivate", "BOP-7")["state"] == "active"
    # It resumes at its next pending trigger: issue (due) walks draft → … → issued.
    cli.ok("scheduler", "once", "--now", "2027-02-20T12:00:00Z", "--json")
    detail = cli.json("policy", "show", "BOP-7")
    assert detail["renewals"][0]["state"] == "issued" and len(detail["terms"]) == 2


# --------------------------------------------------------------------------- update


def test_auto_renewal_update_times_adopt_and_manual_steps(cli):
    cli.ok("agency", "time-zone", "America/New_York")
    _book(cli)
    updated = cli.json(
        "auto-renewal",
        "update",
        "BOP-7",
        "--create-time",
        "none",
        "--accept-time",
        "2027-02-01T09:00:00-05:00",
        "--issue-time",
        "2027-02-10",
        "--transaction-type",
        "rewrite",
        "--term-months",
        "6",
    )
    assert updated["create_time"] is None  # create is now done by a person
    assert updated["accept_time"] == "2027-02-01T14:00:00+00:00"
    assert updated["issue_time"] == "2027-02-10T05:00:00+00:00"  # midnight, New York
    assert (updated["transaction_type"], updated["new_term_months"]) == ("rewrite", 6)

    rid = cli.json("renewal", "create", "BOP-7", "--end", "2027-09-01")["id"]
    adopted = cli.json("auto-renewal", "update", "BOP-7", "--renewal", str(rid))
    assert adopted["renewal_id"] == rid
    assert "is not a renewal of Travelers policy BOP-7" in cli.refused(
        "auto-renewal", "update", "BOP-7", "--renewal", "999"
    )
    shown = cli.ok("auto-renewal", "show", "BOP-7")
    assert "create manual" in shown and f"renewal #{rid}" in shown


def test_agency_time_zone_show_and_set(cli):
    assert cli.json("agency", "time-zone") == {"time_zone": "UTC", "changed": False}
    assert cli.json("agency", "time-zone", "America/Denver") == {
        "time_zone": "America/Denver",
        "changed": True,
    }
    assert cli.ok("agency", "time-zone") == "The agency's time zone is America/Denver.\n"
    assert cli.refused("agency", "time-zone", "UTC", user="casey").startswith("A CSR may not")
    assert "not a time zone name" in cli.refused("agency", "time-zone", "Atlantis/Capital")


# --------------------------------------------------------------------------- as a process


def test_the_flow_as_child_processes(cli, db_url):
    """The same commands through ``python -m desktop_app``: exit codes and streams."""
    _book(cli)
    done = subprocess_cli(
        db_url, "admin", "renewal", "create", "BOP-7", "--end", "2028-03-01", "--json"
    )
    assert done.returncode == 0, done.stderr
    rid = json.loads(done.stdout)["id"]
    done = subprocess_cli(db_url, "admin", "renewal", "advance", str(rid), "--to", "issued")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Advanced renewal {rid} of policy BOP-7: issued")
    done = subprocess_cli(db_url, "admin", "policy", "show", "BOP-7", "--json")
    assert done.returncode == 0 and len(json.loads(done.stdout)["terms"]) == 2

    done = subprocess_cli(db_url, "admin", "policy", "show", "NOPE-9")
    assert done.returncode == 2 and done.stdout == ""
    assert one_sentence(done.stderr) == "There is no policy numbered 'NOPE-9'."
    done = subprocess_cli(db_url, "admin", "renewal", "create", "BOP-7", "--end", "someday")
    assert done.returncode == 2
    assert "'someday' is not a date" in one_sentence(done.stderr)
