"""Every hook in hookspecs.py is documented the way pytest documents its hooks.

A hookspec needs: the ``vmm_`` prefix; a one-line summary; a sentence saying when it
is called ("Called ..."); exactly one of the fixed result phrases; a ``:param:`` for
each parameter and none for a parameter it doesn't have. ``firstresult`` hooks, and
only they, say "Stops at first non-None result". The checks live in
``vmm.core.docgen.problems``; the second half of this file shows they catch each
defect on deliberately bad hookspecs.
"""

from __future__ import annotations

import importlib
import types

import pluggy
import pytest

from vmm import hookspecs
from vmm.core.docgen import collect, describe, problems

HOOKS = collect()
SPEC_FUNCTIONS = [
    name for name, value in vars(hookspecs).items() if hasattr(value, f"{hookspecs.NAME}_spec")
]


def test_every_hookspec_is_collected_for_the_docs():
    assert sorted(hook.name for hook in HOOKS) == sorted(SPEC_FUNCTIONS)
    assert len(HOOKS) >= 30, "hookspecs.py lost hooks?"


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook.name)
def test_hookspec_is_fully_documented(hook):
    doc = getattr(hookspecs, hook.name).__doc__ or ""
    assert problems(hook, doc) == [], f"hookspecs.{hook.name}"


#: Plugins' own hookspecs (added through vmm_addhooks) follow the same conventions.
PLUGIN_HOOKSPECS = ["vmm.plugins.arm64.hookspecs"]


@pytest.mark.parametrize("module_name", PLUGIN_HOOKSPECS)
def test_plugin_hookspecs_are_documented_the_same_way(module_name):
    module = importlib.import_module(module_name)
    specs = {name: value for name, value in vars(module).items()
             if hasattr(value, f"{hookspecs.NAME}_spec")}
    assert specs, f"{module_name} declares no hookspec"
    for name, function in specs.items():
        assert problems(describe(name, function), function.__doc__ or "") == [], name


# ---------------------------------------------------------------- the checks catch defects

GOOD = '''
    """Do a thing.

    Called once, when a thing is needed.

    Called for every plugin.

    :param vm: The VM.
    """
'''


def _spec_module(name: str, doc: str, params: str = "vm", firstresult: bool = False):
    """A module holding one hookspec ``name(params)`` with docstring ``doc``."""
    module = types.ModuleType("bad_hookspecs")
    module.NAME = "vmm"
    module.__file__ = __file__
    namespace: dict = {}
    exec(f"def {name}({params}):\n{doc}\n", namespace)
    module.__dict__[name] = pluggy.HookspecMarker("vmm")(firstresult=firstresult)(namespace[name])
    return module


def _problems_of(name: str, doc: str, params: str = "vm", firstresult: bool = False):
    function = getattr(_spec_module(name, doc, params, firstresult), name)
    return problems(describe(name, function), doc)


def test_a_well_documented_hook_has_no_problem():
    assert _problems_of("vmm_thing", GOOD) == []


@pytest.mark.parametrize(
    ("name", "doc", "params", "firstresult", "expected"),
    [
        ("thing", GOOD, "vm", False, "vmm_ prefix"),
        ("vmm_thing", GOOD.replace("Do a thing.", "Do a\n    thing."), "vm", False, "one line"),
        ("vmm_thing", GOOD.replace("Called once, when a thing is needed.", "Whenever."), "vm",
         False, "when it is called"),
        ("vmm_thing", GOOD.replace("Called for every plugin.", "Results vary."), "vm", False,
         "how results combine"),
        ("vmm_thing", GOOD, "vm", True, "firstresult=True"),
        ("vmm_thing", GOOD.replace("Called for every plugin.", "Stops at first non-None result."),
         "vm", False, "firstresult=False"),
        ("vmm_thing", GOOD, "vm, vcpu", False, "':param NAME:' for vcpu"),
        ("vmm_thing", GOOD.replace(":param vm: The VM.", ":param vm:"), "vm", False,
         "':param NAME:' for vm"),
        ("vmm_thing", GOOD, "config", False, "parameters it doesn't have: vm"),
    ],
    ids=["prefix", "summary", "when", "results", "firstresult-unsaid", "firstresult-false",
         "param-missing", "param-empty", "param-unknown"],
)
def test_each_defect_is_reported(name, doc, params, firstresult, expected):
    found = _problems_of(name, doc, params, firstresult)
    assert any(expected in problem for problem in found), found
