"""vmm's entry points are importlib.metadata's, kept until what they came from changes."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vmm.core import entrypoints, startupcache
from vmm.core.entrypoints import EntryPoint, entry_points


def _triples(points) -> list[tuple[str, str, str]]:
    return [(point.name, point.value, point.group) for point in points]


def _standard(group: str) -> list[tuple[str, str, str]]:
    return _triples(importlib.metadata.entry_points(group=group))


def _dist(root: Path, dirname: str, text: str) -> Path:
    info = root / dirname
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(text)
    return info


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache of this test's own."""
    home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    startupcache.forget()
    yield home
    startupcache.forget()


def _asks_standard(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    real = entrypoints._standard_pairs

    def counting(group: str):
        asked.append(group)
        return real(group)

    monkeypatch.setattr(entrypoints, "_standard_pairs", counting)
    return asked


@pytest.mark.parametrize("group", ["vmm", "console_scripts", "pytest11", "no_such_group"])
def test_installed_entry_points_are_importlib_metadatas_cold_and_warm(
        group: str, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _asks_standard(monkeypatch)
    assert _triples(entry_points(group)) == _standard(group)
    startupcache.forget()  # a later process reads the file
    assert _triples(entry_points(group)) == _standard(group)
    assert asked == [group], "the second start reads the stored answer"


def test_installing_removing_or_editing_a_distribution_is_seen(
        tmp_path: Path, fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    first = _dist(site, "first-1.0.dist-info", "[vmm]\nfirst = first_module\n")
    monkeypatch.setattr(sys, "path", [str(site)])
    assert _triples(entry_points("vmm")) == _standard("vmm") == [("first", "first_module", "vmm")]
    second = _dist(site, "second-1.0.dist-info", "[vmm]\nsecond = second_module\n")
    assert _triples(entry_points("vmm")) == _standard("vmm")
    assert ("second", "second_module", "vmm") in _triples(entry_points("vmm"))
    (first / "entry_points.txt").write_text("[vmm]\nfirst = edited_module\n")
    os.utime(first / "entry_points.txt", ns=(2, 2))
    assert ("first", "edited_module", "vmm") in _triples(entry_points("vmm"))
    (second / "entry_points.txt").unlink()
    second.rmdir()
    assert _triples(entry_points("vmm")) == _standard("vmm") == [("first", "edited_module", "vmm")]


def test_a_finder_that_finds_distributions_goes_to_importlib_metadata(
        fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    point = importlib.metadata.EntryPoint(name="found", value="found_module", group="vmm")

    class Distribution(importlib.metadata.Distribution):
        def read_text(self, filename: str) -> str | None:
            return {"METADATA": "Name: found\n",
                    "entry_points.txt": "[vmm]\nfound = found_module\n"}.get(filename)

        def locate_file(self, path):  # pragma: no cover - never asked for
            raise FileNotFoundError(path)

    class Finder:
        @staticmethod
        def find_distributions(context=None):
            return [Distribution()]

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder])
    assert _triples(entry_points("vmm")) == _standard("vmm")
    assert (point.name, point.value, point.group) in _triples(entry_points("vmm"))


def test_an_unwritable_cache_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    startupcache.forget()
    try:
        assert _triples(entry_points("vmm")) == _standard("vmm")
    finally:
        startupcache.forget()


def test_load_imports_the_module_or_its_attribute() -> None:
    assert EntryPoint("x", "vmm.core.errors", "vmm").load() is sys.modules["vmm.core.errors"]
    loaded = EntryPoint("x", "vmm.core.errors : VmmError", "vmm").load()
    assert loaded is sys.modules["vmm.core.errors"].VmmError
    with pytest.raises(ValueError, match="malformed entry point value"):
        EntryPoint("x", "not a value!", "vmm").load()


def test_a_warm_start_does_not_import_importlib_metadata() -> None:
    probe = ("import sys; from vmm.core.plugins import discover; discover(); "
             "print('importlib.metadata' in sys.modules)")
    for _ in range(2):  # the first run may fill the cache
        result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                check=True)
    assert result.stdout.strip() == "False"
