"""A typed per-VM stash: where plugins keep their own state (pytest's Stash idea).

``KEY = StashKey[MyPluginState]()`` at module level, then ``vm.stash[KEY] = state``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class StashKey(Generic[T]):
    """A key whose type parameter is the type of the stored value."""

    __slots__ = ()


class Stash:
    """A mapping from StashKey[T] to T."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[StashKey[Any], object] = {}

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._data[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        return cast(T, self._data[key])

    def get(self, key: StashKey[T], default: T | None = None) -> T | None:
        return cast("T | None", self._data.get(key, default))

    def setdefault(self, key: StashKey[T], factory: Callable[[], T]) -> T:
        """The value at ``key``, first storing ``factory()`` there if it is missing."""
        if key not in self._data:
            self._data[key] = factory()
        return cast(T, self._data[key])

    def __contains__(self, key: StashKey[T]) -> bool:
        return key in self._data

    def __delitem__(self, key: StashKey[T]) -> None:
        del self._data[key]
