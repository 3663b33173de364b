"""The Python side of the emulated host: this vmm and the packages it imports.

Pure-Python distributions are copied from this machine's environment; compiled
ones need the target's build: cffi comes from Debian (its backend must match its
Python part), others (pydantic-core, which typer needs) from the package index as
a wheel for the target platform, at the version installed here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import vmm
from vmm.core.nested.errors import PackageError

#: Distributions taken from Debian packages instead of this machine.
DEBIAN_PROVIDED = {
    "cffi": ("python3-cffi", "python3-cffi-backend"),
    "pycparser": ("python3-pycparser", "python3-ply"),
}
#: Shared libraries vmm loads with dlopen (the sandbox's libseccomp), as Debian packages.
DEBIAN_LIBRARIES = ("libseccomp2",)
#: Every Debian package of :data:`DEBIAN_PROVIDED`, and :data:`DEBIAN_LIBRARIES`.
DEBIAN_PACKAGES = (*(package for packages in DEBIAN_PROVIDED.values() for package in packages),
                   *DEBIAN_LIBRARIES)
#: Where Debian's Python finds packages that are not part of the standard library.
SITE_DIR = "usr/lib/python3/dist-packages"
COMPILED_SUFFIXES = (".so", ".pyd")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject() -> dict[str, Any] | None:
    path = Path(vmm.__file__).resolve().parent.parent / "pyproject.toml"
    return tomllib.loads(path.read_text()) if path.is_file() else None


def project_requirements() -> list[str]:
    """Names of the distributions this vmm depends on."""
    project = _pyproject()
    if project is not None:
        requirements = project["project"]["dependencies"]
    else:
        requirements = metadata.requires("vmm") or []
    return [re.match(r"[A-Za-z0-9._-]+", r).group(0) for r in requirements]  # type: ignore[union-attr]


def project_metadata() -> tuple[str, str]:
    """The METADATA and entry_points.txt of this vmm, for its dist-info in L1."""
    project = _pyproject()
    if project is None:
        dist = metadata.distribution("vmm")
        return dist.read_text("METADATA") or "", dist.read_text("entry_points.txt") or ""
    info = project["project"]
    meta = f"Metadata-Version: 2.1\nName: {info['name']}\nVersion: {info['version']}\n"
    sections = {"console_scripts": info.get("scripts", {}), **info.get("entry-points", {})}
    lines = []
    for group, entries in sections.items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {value}" for name, value in entries.items())
        lines.append("")
    return meta, "\n".join(lines)


def host_distributions(roots: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``roots`` need, with their dependencies.

    Requirements limited to an extra are left out, and so are those not installed
    here (their markers exclude this platform).
    """
    seen: dict[str, metadata.Distribution] = {}
    pending = [_canonical(name) for name in roots]
    while pending:
        name = pending.pop()
        if name in seen or name in DEBIAN_PROVIDED:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackageError(f"Python package {name} is not installed: pip install {name}") from None
        seen[name] = dist
        for requirement in dist.requires or []:
            if re.search(r"\bextra\s*==", requirement):
                continue
            required = _canonical(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))  # type: ignore[union-attr]
            try:
                metadata.distribution(required)
            except metadata.PackageNotFoundError:
                continue
            pending.append(required)
    return [seen[name] for name in sorted(seen)]


def is_compiled(dist: metadata.Distribution) -> bool:
    """Whether a distribution ships extension modules."""
    return any(str(f).endswith(COMPILED_SUFFIXES) for f in dist.files or [])


def copy_distribution(dist: metadata.Distribution, site: Path) -> None:
    """Copy an installed distribution's files (within site-packages) to ``site``."""
    for file in dist.files or []:
        if file.parts[0] == ".." or "__pycache__" in file.parts:
            continue
        source = Path(str(dist.locate_file(file)))
        if source.is_file():
            target = site / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def fetch_wheel(name: str, version: str, python_version: str,
                platforms: tuple[str, ...], wheels: Path) -> Path:
    """Download (once) the wheel of ``name==version`` for the target platform."""
    wheels.mkdir(parents=True, exist_ok=True)
    tag = "cp" + python_version.replace(".", "")
    pattern = f"{name.replace('-', '_')}-{version}-{tag}-*.whl"
    for found in sorted(wheels.glob(pattern)):
        if any(p in found.name for p in platforms):
            return found
    print(f"vmm nested: downloading {name} {version} for {platforms[0]}",
          file=sys.stderr, flush=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", f"--python-version={python_version}",
               "--implementation=cp", f"--abi={tag}", "--dest", str(wheels)]
    command += [f"--platform={p}" for p in platforms] + [f"{name}=={version}"]
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    for found in sorted(wheels.glob(pattern)):
        if any(p in found.name for p in platforms):
            return found
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    raise PackageError(
        f"no wheel of {name} {version} for Python {python_version} on {platforms[0]}"
        + (f": {errors[-1]}" if errors else "")
    )


def install_wheel(wheel: Path, site: Path) -> None:
    """Unpack a wheel into ``site`` (wheels are zip files laid out for site-packages)."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)


def console_scripts(entry_points: str) -> dict[str, str]:
    """The ``[console_scripts]`` of an entry_points.txt: name -> ``module:function``."""
    import configparser

    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(entry_points)
    return dict(parser["console_scripts"]) if parser.has_section("console_scripts") else {}


def launcher(target: str, python: str = "/usr/bin/python3") -> str:
    """The text of a console script running ``module:function`` (what pip writes)."""
    module, _, function = target.partition(":")
    return (f"#!{python}\nimport sys\nfrom {module} import {function}\n"
            f"sys.exit({function}())\n")


def install_project(site: Path, bindir: Path | None = None) -> None:
    """Copy this vmm's package (links followed) and a dist-info carrying its entry
    points into ``site``; with ``bindir``, its console scripts (``vmm``,
    ``vmm-lkvm``) there too, so that L1's commands find them on PATH."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(Path(vmm.__file__).parent, site / "vmm", ignore=ignore, dirs_exist_ok=True)
    meta, entry_points = project_metadata()
    version = re.search(r"^Version: (\S+)", meta, re.M)
    info = site / f"vmm-{version.group(1) if version else '0'}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(meta)
    (info / "entry_points.txt").write_text(entry_points)
    if bindir is None:
        return
    bindir.mkdir(parents=True, exist_ok=True)
    for name, target in console_scripts(entry_points).items():
        script = bindir / name
        script.write_text(launcher(target))
        script.chmod(0o755)

