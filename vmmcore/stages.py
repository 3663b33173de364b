"""Init stages in order and exit stages in reverse, as kvmtool's init lists.

When an init stage fails, the exit stages of the stages that completed run in
reverse order, then the error propagates.
"""

from __future__ import annotations

import logging
from typing import Any

STAGES = ("core", "base", "dev_base", "dev", "virtio_dev", "firmware", "late", "last")
#: The hooks of each stage (``vmm_<stage>_init``, ``vmm_<stage>_exit``), as named in
#: hookspecs.py.
INIT_HOOKS = {stage: f"vmm_{stage}_init" for stage in STAGES}
EXIT_HOOKS = {stage: f"vmm_{stage}_exit" for stage in STAGES}

log = logging.getLogger(__name__)


class StageRunner:
    """Runs ``vmm_<stage>_init`` hooks and remembers what must be undone.

    :param hook: the plugin manager's hook relay (``pm.hook``).
    """

    def __init__(self, hook: Any) -> None:
        self._hook = hook
        self.completed: list[str] = []

    def init_all(self, vm: Any, until: str | None = None) -> None:
        """Run the init stages in order, or only up to and including ``until``."""
        if until is not None and until not in STAGES:
            raise ValueError(f"unknown stage {until!r} (stages: {', '.join(STAGES)})")
        for stage in STAGES:
            try:
                getattr(self._hook, INIT_HOOKS[stage])(vm=vm)
            except BaseException:
                self.exit_all(vm)
                raise
            self.completed.append(stage)
            if stage == until:
                break

    def exit_all(self, vm: Any) -> None:
        """Run the exit stage of every completed init stage, last first.

        Every exit stage runs even if an earlier one fails; the first failure is
        raised at the end.
        """
        first_error: BaseException | None = None
        while self.completed:
            stage = self.completed.pop()
            try:
                getattr(self._hook, EXIT_HOOKS[stage])(vm=vm)
            except BaseException as error:  # keep tearing down
                log.debug("exit stage %s failed", stage, exc_info=True)
                first_error = first_error or error
        if first_error is not None:
            raise first_error
