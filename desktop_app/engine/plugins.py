"""Auto-renewal plugins: finding them, and calling them safely.

A plugin is a callable taking the request ``{"renewalEvent": …, "autoRenewal": {…}}`` and
returning an answer dict (or ``None`` for "no change"). Plugins are found through

* the entry-point group ``renewal_desk.auto_renewal_plugins`` of installed packages, and
* ``RENEWAL_DESK_PLUGINS="package.module:callable,…"`` in the environment, else the
  ``plugins`` list of the desktop's settings file.

A plugin runs in a worker thread with a time limit. One that raises, hangs past the limit
or answers nonsense costs only the auto-renewal it was called for (it goes to ``error``
with the reason). A configured plugin that cannot even be loaded stops every automatic
action, because firing without it could issue a renewal the plugin would have stopped.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from desktop_app.settings import Settings

ENTRY_POINT_GROUP = "renewal_desk.auto_renewal_plugins"
ENV_VAR = "RENEWAL_DESK_PLUGINS"
TIMEOUT_ENV_VAR = "RENEWAL_DESK_PLUGIN_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 10.0


class PluginFailed(Exception):
    """The plugin raised or did not answer in time; the message is one sentence."""


@dataclass(frozen=True)
class Plugin:
    name: str
    func: Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class PluginSet:
    plugins: tuple[Plugin, ...]
    problems: tuple[str, ...]  # plugins configured but not loadable, in sentences
    timeout: float = DEFAULT_TIMEOUT_SECONDS


def _load_spec(spec: str) -> Plugin:
    module_name, _, attr = spec.strip().partition(":")
    if not module_name or not attr:
        raise ValueError(f"'{spec}' is not of the form package.module:callable")
    module = importlib.import_module(module_name)
    func = module
    for part in attr.split("."):
        func = getattr(func, part)
    if not callable(func):
        raise ValueError(f"'{spec}' is not callable")
    return Plugin(spec.strip(), func)  # type: ignore[arg-type]


def configured_specs() -> list[str]:
    """The ``module:callable`` specs from the environment, else from the settings file."""
    raw = os.environ.get(ENV_VAR)
    if raw is not None:
        return [s.strip() for s in raw.split(",") if s.strip()]
    return [s.strip() for s in Settings.load().plugins if s.strip()]


def load_plugins(specs: list[str] | None = None, *, entry_point_group: bool = True) -> PluginSet:
    """Every plugin that is configured, with a sentence for each one that failed to load."""
    plugins: list[Plugin] = []
    problems: list[str] = []
    if entry_point_group:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                plugins.append(Plugin(f"{ep.name} ({ep.value})", ep.load()))
            except Exception as exc:  # a broken package must not crash the timer
                problems.append(f"The plugin {ep.name} ({ep.value}) could not be loaded: {exc}.")
    for spec in configured_specs() if specs is None else specs:
        try:
            plugins.append(_load_spec(spec))
        except Exception as exc:
            problems.append(f"The plugin {spec} could not be loaded: {exc}.")
    try:
        timeout = float(os.environ.get(TIMEOUT_ENV_VAR, DEFAULT_TIMEOUT_SECONDS))
    except ValueError:
        timeout = DEFAULT_TIMEOUT_SECONDS
    return PluginSet(tuple(plugins), tuple(problems), timeout)


def call(plugin: Plugin, request: dict[str, Any], timeout: float) -> Any:
    """Call ``plugin`` with ``request`` in a worker thread; wait at most ``timeout`` s.

    A thread cannot be killed, so a plugin that hangs keeps its (daemon) thread; the
    timer moves on and the auto-renewal goes to error.
    """
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["answer"] = plugin.func(request)
        except BaseException as exc:
            result["error"] = exc

    worker = threading.Thread(target=run, name=f"plugin {plugin.name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise PluginFailed(f"The plugin {plugin.name} did not answer within {timeout:g} seconds.")
    if "error" in result:
        exc = result["error"]
        raise PluginFailed(f"The plugin {plugin.name} failed: {type(exc).__name__}: {exc}")
    return result.get("answer")
