"""Debian packages through a private apt configuration.

The system's own sources and state stay untouched: each (architecture, suites)
pair gets its own sources list, package lists and cache under the nested cache,
and only the mirror is taken from the system's sources.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vmm.core.nested.errors import MissingToolError, NestedError, PackageError

SYSTEM_SOURCES = (
    Path("/etc/apt/sources.list.d/debian.sources"),
    Path("/etc/apt/sources.list"),
)
ARCHIVE_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SYSTEM_STATUS = Path("/var/lib/dpkg/status")


@dataclass(frozen=True)
class DebianMirror:
    """The system's Debian mirror and its own suite (e.g. ``bookworm``)."""

    uri: str
    system_suite: str


def find_debian_mirror(sources: tuple[Path, ...] = SYSTEM_SOURCES) -> DebianMirror:
    """Read the Debian mirror (a URI ending in ``/debian``) from the apt sources."""
    for path in sources:
        if not path.is_file():
            continue
        text = path.read_text()
        for stanza in re.split(r"\n\s*\n", text):
            fields = dict(
                (key.strip().lower(), value.strip())
                for key, _, value in (line.partition(":") for line in stanza.splitlines())
                if not key.startswith("#") and value
            )
            for uri in fields.get("uris", "").split():
                if uri.rstrip("/").endswith("/debian") and fields.get("suites"):
                    return DebianMirror(uri.rstrip("/"), fields["suites"].split()[0])
        for match in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)/?\s+(\S+)", text, re.M):
            return DebianMirror(match.group(1), match.group(2))
    raise NestedError(
        "no Debian mirror in the apt sources (" + ", ".join(map(str, sources))
        + "): add one whose URI ends in /debian"
    )


def require_tool(tool: str, package: str) -> str:
    """Return the path of ``tool`` or raise a one-line error naming its package."""
    found = shutil.which(tool)
    if not found:
        raise MissingToolError(tool, package)
    return found


@dataclass(frozen=True)
class PackageFile:
    """One .deb apt would fetch: its package name, version and file name."""

    name: str
    version: str
    filename: str


_URI_LINE = re.compile(r"^'(?P<uri>[^']+)'\s+(?P<file>\S+\.deb)\s+\d+", re.M)


def _parse_print_uris(output: str) -> list[PackageFile]:
    files = []
    for match in _URI_LINE.finditer(output):
        filename = match.group("file")
        name, version, _ = filename[: -len(".deb")].split("_")
        files.append(PackageFile(name, version.replace("%3a", ":"), filename))
    return files


def natural_key(text: str) -> list[object]:
    """Sort key comparing digit runs as numbers (``6.12`` after ``6.1``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


class PrivateApt:
    """apt-get and apt-cache with their own sources, lists and cache."""

    def __init__(
        self, root: Path, mirror: DebianMirror, suites: tuple[str, ...], arch: str,
        installed_status: Path | None = None,
    ) -> None:
        self.root = root
        self.mirror = mirror
        self.suites = suites
        self.arch = arch
        self.installed_status = installed_status
        self._updated = False

    def _options(self) -> list[str]:
        status = self.installed_status or self.root / "status"
        return [
            "-o", f"Dir::Etc={self.root / 'etc'}",
            "-o", "Dir::Etc::SourceList=sources.list",
            "-o", f"Dir::State={self.root / 'state'}",
            "-o", f"Dir::State::Lists={self.root / 'lists'}",
            "-o", f"Dir::State::status={status}",
            "-o", f"Dir::Cache={self.root / 'cache'}",
            "-o", f"APT::Architecture={self.arch}",
            "-o", f"APT::Architectures={self.arch}",
            "-o", "Acquire::Languages=none",
            "-o", "Acquire::PDiffs=false",
            "-o", "Debug::NoLocking=true",
            "-o", "APT::Get::AllowUnauthenticated=false",
        ]

    def _prepare(self) -> None:
        for sub in ("etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d",
                    "state", "lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "status").touch()
        if not ARCHIVE_KEYRING.is_file():
            raise MissingToolError(str(ARCHIVE_KEYRING), "debian-archive-keyring")
        lines = [
            f"deb [arch={self.arch} signed-by={ARCHIVE_KEYRING}] {self.mirror.uri} {suite} main"
            for suite in self.suites
        ]
        sources = self.root / "etc" / "sources.list"
        text = "\n".join(lines) + "\n"
        if not sources.is_file() or sources.read_text() != text:
            sources.write_text(text)
            for stale in (self.root / "lists").glob("*_Packages*"):
                stale.unlink()

    def _run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        program = require_tool(tool, "apt")
        result = subprocess.run(
            [program, *self._options(), *args], cwd=cwd, text=True,
            capture_output=True, stdin=subprocess.DEVNULL,
        )
        if result.returncode != 0:
            errors = [line for line in result.stderr.splitlines() if line.startswith("E:")]
            reason = (errors or result.stderr.strip().splitlines() or ["failed"])[-1]
            raise PackageError(
                f"{tool} {args[0]} ({self.arch}, {' '.join(self.suites)}): {reason}"
            )
        return result.stdout

    def update(self, force: bool = False) -> None:
        """Fetch the package lists once (or again when ``force``)."""
        self._prepare()
        lists = list((self.root / "lists").glob("*_Packages*"))
        if lists and not force and not self._updated:
            return
        if self._updated and not force:
            return
        print(f"vmm nested: updating Debian package lists ({self.arch}: "
              f"{' '.join(self.suites)})", file=sys.stderr, flush=True)
        self._run("apt-get", "update")
        self._updated = True

    def newest_matching(self, pattern: str) -> str:
        """The newest package whose whole name matches the regex ``pattern``."""
        self.update()
        literal = re.match(r"[\w-]*", pattern).group(0)  # type: ignore[union-attr]
        names = self._run("apt-cache", "pkgnames", literal).split()
        matches = sorted((n for n in names if re.fullmatch(pattern, n)), key=natural_key)
        if not matches:
            raise PackageError(
                f"no Debian package matches {pattern!r} in {' '.join(self.suites)} "
                f"({self.arch})"
            )
        return matches[-1]

    def resolve(self, packages: list[str], with_dependencies: bool = False,
                release: str | None = None) -> list[PackageFile]:
        """The .deb files of ``packages`` (and of their missing dependencies)."""
        self.update()
        args = ["-t", release] if release else []
        if with_dependencies:
            command = ["install", "--print-uris", "-y", "-qq", "--no-install-recommends",
                       *args, *packages]
        else:
            command = ["download", "--print-uris", *args, *packages]
        try:
            output = self._run("apt-get", *command)
        except PackageError:
            self.update(force=True)
            output = self._run("apt-get", *command)
        return _parse_print_uris(output)

    def download(self, files: list[PackageFile], destination: Path) -> list[Path]:
        """Fetch the .deb files not yet in ``destination``; return all their paths."""
        destination.mkdir(parents=True, exist_ok=True)
        missing = [f for f in files if not (destination / f.filename).is_file()]
        if missing:
            names = ", ".join(f.name for f in missing)
            print(f"vmm nested: downloading {len(missing)} Debian package(s) "
                  f"({self.arch}): {names}", file=sys.stderr, flush=True)
            # Its own scratch directory: another build may be downloading into
            # ``destination`` at the same time (the host's and a target's .debs
            # share it when their architectures are the same).
            scratch = Path(tempfile.mkdtemp(prefix=".partial-", dir=destination))
            try:
                self._run("apt-get", "download",
                          *(f"{f.name}={f.version}" for f in missing), cwd=scratch)
                for got in scratch.glob("*.deb"):
                    got.replace(destination / got.name)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
        paths = [destination / f.filename for f in files]
        absent = [p.name for p in paths if not p.is_file()]
        if absent:
            raise PackageError(f"apt-get did not fetch {', '.join(absent)}")
        return paths
