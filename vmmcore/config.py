"""The typed configuration of one ``vmm run``.

The CLI builds it; plugins read it. Each plugin reads the options it declared from
its own read-only namespace, ``config.options_of("arm64").disable_sve`` (see
:mod:`vmm.core.options`); a plugin's own state belongs in the per-VM stash, never
in new core fields.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .options import OptionGroup, OptionValues, bind_options

DEFAULT_MEM_MIB = 256
#: ``--loglevel`` values, kvmtool's, least verbose first.
LOGLEVELS = ("error", "warning", "info", "debug")


@dataclass
class Config:
    """Everything ``vmm run`` was asked to do."""

    #: An installed arch plugin's ``VMM_ARCH`` (``vmm run`` defaults to the host's,
    #: :func:`vmm.core.plugins.host_arch`).
    arch: str
    kernel: str | None = None
    initrd: str | None = None
    params: str = ""
    mem_mib: int = DEFAULT_MEM_MIB
    cpus: int = 1
    firmware: str | None = None
    console: str = "serial"
    debug: bool = False
    #: Which messages vmm logs (one of :data:`LOGLEVELS`); ``debug`` also sets it.
    loglevel: str = "warning"
    dry_run: bool = False
    nocompat: bool = False
    #: The seccomp sandbox of a running VM (vmm.core.sandbox): True required, None
    #: on where it works (``vmm run``'s default), False off (a library's default).
    sandbox: bool | None = False
    #: A hugetlbfs directory guest RAM is mapped from (kvmtool's --hugetlbfs), or None.
    hugetlbfs: str | None = None
    plugins_blocked: list[str] = field(default_factory=list)
    #: Plugin option values given for this run, by plugin name, then destination
    #: (``{"arm64": {"disable_sve": True}}``); the others take their defaults.
    given_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Every loaded plugin's option namespace, set by :meth:`bind_options` once the
    #: run's plugins are known (None until then); read it with :meth:`options_of`.
    options: dict[str, OptionValues] | None = None

    @property
    def mem_bytes(self) -> int:
        return self.mem_mib << 20

    def bind_options(self, groups: Iterable[OptionGroup]) -> None:
        """Build every plugin's namespace from the given values and the declarations
        ``groups`` (one per loaded plugin); see :func:`vmm.core.options.bind_options`."""
        self.options = bind_options(self.given_options, groups, self.arch)

    def options_of(self, plugin: str) -> OptionValues:
        """The option values of ``plugin`` (its registered name), read-only.

        A plugin that declared no options gets an empty namespace.
        """
        if self.options is None:
            raise RuntimeError("plugin options read before they were bound "
                               "(Config.bind_options, once the run's plugins are known)")
        return self.options.get(plugin) or OptionValues(plugin)
