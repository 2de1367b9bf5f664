"""Example plugin: do not renew automatically when the premium jumps too much.

Enable it with ``RENEWAL_DESK_PLUGINS=desktop_app.plugins.premium_threshold:plugin``.
On the accept and issue events it compares the renewal's new premium with the expiring
term's premium; when the increase crosses the threshold (``RENEWAL_DESK_PREMIUM_THRESHOLD``,
a fraction, default 0.25 = 25 %) it answers ``doNotRenew``: a person should talk to the
insured before a renewal at that price goes out. The timer service writes the answer and
its reason into the renewal's activity and notifies the renewal's owner.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation
from typing import Any

DEFAULT_THRESHOLD = Decimal("0.25")


def _threshold() -> Decimal:
    try:
        return Decimal(os.environ.get("RENEWAL_DESK_PREMIUM_THRESHOLD", DEFAULT_THRESHOLD))
    except InvalidOperation:
        return DEFAULT_THRESHOLD


def plugin(request: dict[str, Any]) -> dict[str, Any]:
    """Answer ``doNotRenew`` when the premium rises past the threshold, else nothing."""
    if request.get("renewalEvent") not in ("accept", "issue"):
        return {}
    auto_renewal = request.get("autoRenewal") or {}
    old, new = auto_renewal.get("termPremium"), auto_renewal.get("renewalNewPremium")
    if old in (None, "") or new in (None, ""):
        return {}
    old_amount, new_amount = Decimal(str(old)), Decimal(str(new))
    if old_amount <= 0:
        return {}
    if (new_amount - old_amount) / old_amount > _threshold():
        return {"autoRenewalState": "doNotRenew"}
    return {}
