"""Decoded exits behave as the dataclasses they were: repr, equality, defaults."""

from __future__ import annotations

import pytest

from vmm.core.kvm.exits import Exit, FailEntryExit, IoExit, MmioExit, SystemEventExit


def test_repr_names_every_field_base_first() -> None:
    assert repr(IoExit(2, 0x3F8, 1, 1, True)) == (
        "IoExit(reason=2, port=1016, size=1, count=1, is_write=True, data=None)")
    assert repr(Exit(5)) == "Exit(reason=5)"
    assert IoExit(2).field_names() == ("reason", "port", "size", "count", "is_write", "data")


def test_equality_is_by_class_and_fields() -> None:
    assert MmioExit(6, 0xD000_0000, 1) == MmioExit(6, 0xD000_0000, 1)
    assert MmioExit(6, 0xD000_0000, 1) != MmioExit(6, 0xD000_0000, 2)
    assert FailEntryExit(9) != Exit(9)
    with pytest.raises(TypeError):
        hash(Exit(1))


def test_list_defaults_are_not_shared() -> None:
    first, second = SystemEventExit(24), SystemEventExit(24)
    first.data.append(1)
    assert second.data == []


def test_exits_have_no_instance_dict() -> None:
    with pytest.raises(AttributeError):
        IoExit(2).unknown = 1  # type: ignore[attr-defined]
