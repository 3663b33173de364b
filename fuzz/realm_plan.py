"""The realm plan reader (``vmm realm measure --plan FILE``), fed any file.

Each input is written as the plan file and read with ``load_plan`` as the command
does; a plan it accepts is then measured. Refusals are one-line PlanError or
MeasurementError; anything else escaping (a RecursionError from deep JSON, a
TypeError from an unexpected value) is a finding.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

from . import OneInput, Target

SEED_PLAN = {
    "hash": "sha256", "rmm": "beta0",
    "realm_params": {"flags": 0, "s2sz": 33, "sve_vl": 0, "num_bps": 1, "num_wps": 1,
                     "pmu_num_ctrs": 0},
    "ops": [
        {"op": "ripas", "ipa": "0x80000000", "level": 2},
        {"op": "data", "ipa": "0x80000000", "measure": True, "file": "page", "offset": 0},
        {"op": "data", "ipa": "0x80001000", "measure": False},
        {"op": "rec", "runnable": True, "pc": "0x80000000", "gprs": ["0x8fe00000"]},
    ],
}


@lru_cache(maxsize=1)
def _page_fd() -> int:
    """A memfd holding one page, which the seed plans' data op names as its file
    (``/proc/self/fd`` is the plan's directory, so nothing lands on disk)."""
    fd = os.memfd_create("vmm-fuzz-page")
    os.write(fd, b"\xaa" * 4096)
    return fd


def _setup() -> OneInput:
    from vmm.plugins.arm64_realm.rmm import load_plan, measure
    from vmm.plugins.arm64_realm.rmm.errors import MeasurementError, PlanError

    _page_fd()
    plan_fd = os.memfd_create("vmm-fuzz-plan")
    path = f"/proc/self/fd/{plan_fd}"

    def one_input(data: bytes) -> None:
        os.ftruncate(plan_fd, 0)
        os.pwrite(plan_fd, data, 0)
        try:
            measure(load_plan(path))
        except (PlanError, MeasurementError):
            pass

    return one_input


def _seeds() -> list[bytes]:
    ops = [dict(op, file=str(_page_fd())) if "file" in op else op for op in SEED_PLAN["ops"]]
    plan = dict(SEED_PLAN, ops=ops)
    variant = dict(SEED_PLAN, rmm="rel0", hash="sha512",
                   ops=[{"op": "ripas", "base": "0x80000000", "top": "0x80200000"}])
    return [json.dumps(plan).encode(), json.dumps(variant).encode()]


TARGETS = {"realm-plan": Target("realm-plan", "realm plan JSON reader and measurement",
                                _setup, _seeds)}
