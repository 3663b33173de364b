"""``lkvm run``'s words, parsed as kvmtool parses them, turned into ``vmm run``'s.

kvmtool's parser (git's parse-options) takes ``--opt value``, ``--opt=value``, any
unambiguous prefix of a long name, ``--no-flag``, ``-c 2`` and ``-c2``, stops at
``--``, and treats the first word that isn't an option as the kernel. The result
is vmm's words, each ``--flag=value`` (or a bare flag), for vmm's one run path;
vmm's parser then checks values as it checks any command line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import UsageError
from .dialect import (
    FLAG,
    OPTIONAL_VALUE,
    OPTIONS,
    RISCV_DISABLE_PREFIX,
    SAME,
    KvmtoolOption,
    Missing,
    find_long,
    find_short,
)


class LkvmUsageError(UsageError):
    """A command line kvmtool would refuse, or one vmm can't honour (exit 129)."""


class HelpRequested(LkvmUsageError):
    """``-h`` or ``--help`` where an option goes: kvmtool prints the usage (exit 129)."""


@dataclass
class Given:
    """One option as given: the option, its value (None for a flag) and whether it
    was negated (``--no-rng``)."""

    option: KvmtoolOption
    value: str | None
    negated: bool = False


#: kvmtool's memory size suffixes: bit shifts (no suffix means MiB).
_MEM_SHIFTS = {"b": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50}


def mem_mib(text: str) -> str:
    """kvmtool's ``-m`` value (``512``, ``2G``, ``1048576K``) in whole MiB."""
    digits = text.rstrip("bBkKmMgGtTpP")
    suffix = text[len(digits):].lower()
    if not digits.isdigit() or len(suffix) > 1:
        raise LkvmUsageError(f"Invalid memory specifier: {text}")
    size = int(digits) << _MEM_SHIFTS.get(suffix, 20)
    if size == 0:
        raise LkvmUsageError(f"Invalid RAM size: {text}")
    if size % (1 << 20):
        raise LkvmUsageError(f"-m {text}: vmm sizes guest RAM in whole MiB")
    return str(size >> 20)


_CONVERTERS = {"mem": mem_mib}
KERNEL = next(option for option in OPTIONS if option.long == "kernel")


def parse_run_words(words: list[str]) -> list[Given]:
    """kvmtool's reading of ``lkvm run WORDS``; the first plain word is the kernel."""
    given: list[Given] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--" or not word.startswith("-") or word == "-":
            plain = words[index:] if word == "--" else [word]
            if word == "--":
                index = len(words)
            for item in plain:
                if any(earlier.option.long == "kernel" for earlier in given):
                    raise LkvmUsageError(f"Cannot handle parameter: {item}")
                given.append(Given(KERNEL, item))
            continue
        if word in ("-h", "--help"):
            raise HelpRequested("")
        if word.startswith("--"):
            option, value, negated = _long(word[2:])
        else:
            short = find_short(word[1])
            if short is None:
                raise LkvmUsageError(f"unknown switch `{word[1]}'")
            option = short
            value, negated = (word[2:] or None), False
        if option.kind == FLAG or negated:
            if value is not None:
                raise LkvmUsageError(f"option `{option.long}' takes no value")
        elif value is None:
            at_end = index == len(words) or words[index].startswith("-")
            if option.kind == OPTIONAL_VALUE and at_end:
                value = option.default
            elif index == len(words):
                raise LkvmUsageError(f"option `{option.long}' requires a value")
            else:
                value = words[index]
                index += 1
        given.append(Given(option, value, negated))
    return given


def _long(text: str) -> tuple[KvmtoolOption, str | None, bool]:
    """A long option's entry, attached value and negation (``no-`` prefix)."""
    name, equals, value = text.partition("=")
    attached = value if equals else None
    found = find_long(name)
    negated = False
    if found is None and name.startswith("no-"):
        plain = find_long(name[3:])
        if isinstance(plain, KvmtoolOption) and plain.kind == FLAG:
            found, negated = plain, True
    if found is None and name.startswith(RISCV_DISABLE_PREFIX):
        found = KvmtoolOption(name, "", FLAG, "", SAME)  # vmm checks that it has it
    if isinstance(found, list):
        names = ", ".join(f"--{option.long}" for option in found)
        raise LkvmUsageError(f"Ambiguous option: {name} (could be {names})")
    if found is None:
        raise LkvmUsageError(f"unknown option `{name}'")
    return found, attached, negated


def vmm_words(given: Iterable[Given], vmm_flags: set[str]) -> list[str]:
    """``vmm run``'s words for the parsed options.

    :param vmm_flags: every flag ``vmm run`` declares for this machine's
        architecture (core and plugins), to refuse kvmtool options that are
        passed on unchanged but that no plugin here declares.
    """
    words: list[str] = []
    for item in given:
        option, vmm = item.option, item.option.vmm
        if isinstance(vmm, Missing):
            raise LkvmUsageError(f"option `{option.long}' is not supported by vmm: {vmm.why}")
        if item.negated:
            continue  # a flag turned off: vmm's flags are all off by default
        if vmm.words:
            words += vmm.words
            continue
        flag = vmm.flag or f"--{option.long}"
        if flag not in vmm_flags:
            raise LkvmUsageError(f"option `{option.long}' is not supported by vmm on this "
                                 "machine's architecture")
        if item.value is None:
            words.append(flag)
        else:
            value = _CONVERTERS[vmm.convert](item.value) if vmm.convert else item.value
            words.append(f"{flag}={value}")
    return words
