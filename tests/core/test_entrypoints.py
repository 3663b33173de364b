"""vmm's entry-point reader gives what importlib.metadata gives, without importing it."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from vmm.core import entrypoints
from vmm.core.entrypoints import EntryPoint, entry_points


def _triples(points) -> list[tuple[str, str, str]]:
    return [(point.name, point.value, point.group) for point in points]


def _standard(group: str) -> list[tuple[str, str, str]]:
    return _triples(importlib.metadata.entry_points(group=group))


def _dist(root: Path, dirname: str, text: str) -> None:
    info = root / dirname
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(text)


@pytest.mark.parametrize("group", ["vmm", "console_scripts", "pytest11", "no_such_group"])
def test_installed_entry_points_match_importlib_metadata(group: str) -> None:
    assert _triples(entrypoints._read(group)) == _standard(group)


def test_search_order_duplicates_and_parsing_match_importlib_metadata(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "Shared_Name-1.0.dist-info", "[vmm]\nshared = first_module\n")
    _dist(first, "alpha-2.0.dist-info",
          "stray = before any section\n# comment\n[vmm]\n  a = pkg.mod:attr.inner [extra]\n"
          "\n[other]\nb = elsewhere\n[vmm]\nc=tight\n")
    _dist(first, "alpha-1.0.egg-info", "[vmm]\nold = shadowed_by_the_dist_info\n")
    _dist(second, "shared.name-2.0.dist-info", "[vmm]\nshared = second_module\n")
    _dist(second, "beta.egg-info", "[vmm]\nbeta = beta_module\n")
    (second / "gamma-1.0.dist-info").mkdir()  # no entry_points.txt
    monkeypatch.setattr(sys, "path", [str(first), str(tmp_path / "missing"), str(second)])
    expected = _standard("vmm")
    assert ("shared", "first_module", "vmm") in expected  # the first distribution wins
    assert _triples(entrypoints._read("vmm")) == expected


def test_zip_on_the_path_goes_to_importlib_metadata(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped-1.0.dist-info/METADATA", "Name: zipped\n")
        zipped.writestr("zipped-1.0.dist-info/entry_points.txt", "[vmm]\nzipped = zmod\n")
    monkeypatch.setattr(sys, "path", [str(archive)])
    with pytest.raises(entrypoints._Unusual):
        entrypoints._read("vmm")
    assert _triples(entry_points("vmm")) == [("zipped", "zmod", "vmm")] == _standard("vmm")


def test_a_finder_that_finds_distributions_goes_to_importlib_metadata(
        monkeypatch: pytest.MonkeyPatch) -> None:
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


def test_load_imports_the_module_or_its_attribute() -> None:
    assert EntryPoint("x", "vmm.core.errors", "vmm").load() is sys.modules["vmm.core.errors"]
    loaded = EntryPoint("x", "vmm.core.errors : VmmError", "vmm").load()
    assert loaded is sys.modules["vmm.core.errors"].VmmError
    with pytest.raises(ValueError, match="malformed entry point value"):
        EntryPoint("x", "not a value!", "vmm").load()


def test_reading_the_plugins_does_not_import_importlib_metadata() -> None:
    probe = ("import sys; from vmm.core.plugins import discover; discover(); "
             "print('importlib.metadata' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
