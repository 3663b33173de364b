"""Errors vmm reports as one line: the CLI prints ``str(error)`` and exits 1.

Every error a user can cause derives from :class:`VmmError`; anything else is a bug
and shows a traceback.
"""

from __future__ import annotations

import errno as errno_module
import os


class VmmError(Exception):
    """Root of every error vmm reports as one line."""


class ConfigError(VmmError):
    """The command line or configuration is wrong (say what to do instead)."""


class UsageError(ConfigError):
    """The command line itself is malformed (an unknown choice or name): exit 2."""


class UnusableFileError(ConfigError):
    """A file named on the command line (kernel, initrd, firmware) can't be opened.

    :param what: which file (``"kernel"``, ``"initrd"``, ``"firmware"``).
    :param path: the path as given.
    """

    def __init__(self, message: str, what: str, path: str) -> None:
        super().__init__(message)
        self.what = what
        self.path = path


class ImageError(VmmError):
    """A kernel, initrd, firmware or disk image can't be used."""


class PluginError(VmmError):
    """A plugin could not be loaded or misbehaves (names the plugin)."""


class GuestError(VmmError):
    """The guest did something the VMM cannot continue from."""


class KvmError(VmmError):
    """A KVM ioctl failed; carries the ioctl's name and the errno."""

    def __init__(self, ioctl: str, errno: int, hint: str = "") -> None:
        self.ioctl = ioctl
        self.errno = errno
        name = errno_module.errorcode.get(errno, str(errno))
        message = f"{ioctl} failed: {os.strerror(errno)} ({name})"
        if hint:
            message += f"; {hint}"
        super().__init__(message)
