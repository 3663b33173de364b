"""The built-in x86 guest and how project-written guests are built with binutils.

The built-in guest is GNU assembler source (``guests/builtin.S``) committed with the
binary built from it (``guests/builtin.bin``), so running it needs no toolchain;
a test rebuilds it with the host's ``as``/``ld`` and checks the bytes match. GNU
as was chosen over a home-made assembler: its encodings are the reference every
reader can check, and the same two commands build the test guests.
"""

from __future__ import annotations

from pathlib import Path

from vmm.core.errors import VmmError

GUESTS_DIR = Path(__file__).parent / "guests"
BUILTIN_SOURCE = GUESTS_DIR / "builtin.S"
BUILTIN_BINARY = GUESTS_DIR / "builtin.bin"
FLAT16_SCRIPT = GUESTS_DIR / "guest16.ld"


def builtin_guest_path() -> Path:
    """The built-in guest's binary (a flat real-mode image)."""
    return BUILTIN_BINARY


def build_guest(source: Path, script: Path, output: Path, *, bits: int = 32,
                include: tuple[Path, ...] = ()) -> Path:
    """Assemble ``source`` and link it with the linker script ``script`` into ``output``.

    ``bits`` selects the object format: 32 for real-mode/flat guests (``.code16``
    inside), 64 for ELF64 guests. ``.include`` files are looked up next to the
    source, in ``include`` and in this package's guest directory (``serial16.S``).
    Raises VmmError when binutils is missing or fails.
    """
    import shutil
    import subprocess  # here: a run of the built-in guest needs neither (~3 ms)

    for tool in ("as", "ld"):
        if shutil.which(tool) is None:
            raise VmmError(f"building {source.name} needs GNU {tool} (binutils); install it")
    obj = output.with_suffix(".o")
    as_flag, ld_emulation = ("--32", "elf_i386") if bits == 32 else ("--64", "elf_x86_64")
    commands = [
        ["as", as_flag, *(f"-I{path}" for path in (source.parent, *include, GUESTS_DIR)),
         "-o", str(obj), str(source)],
        ["ld", "-m", ld_emulation, "-nostdlib", "--build-id=none", "-T", str(script),
         "-o", str(output), str(obj)],
    ]
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise VmmError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    obj.unlink(missing_ok=True)
    return output
