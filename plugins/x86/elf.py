"""ELF64 x86-64 images (an uncompressed vmlinux, or a project-written guest):
loadable segments by physical address, and the PVH entry from the Xen ELF note."""

from __future__ import annotations

import struct
from typing import NamedTuple

from vmm.core.errors import ImageError

ELF_MAGIC = b"\x7fELF"
ELFCLASS64 = 2
ELFDATA2LSB = 1
EM_X86_64 = 62
PT_LOAD = 1
PT_NOTE = 4
XEN_NOTE_NAME = b"Xen"
XEN_ELFNOTE_PHYS32_ENTRY = 18

# Elf64_Ehdr after e_ident, Elf64_Phdr and Elf64_Nhdr (the ELF-64 object file format).
_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_NHDR = struct.Struct("<III")


class ElfSegment(NamedTuple):
    """A PT_LOAD segment: file bytes at a physical address, zero-filled to mem_size."""

    paddr: int
    offset: int
    file_size: int
    mem_size: int


class ElfImage(NamedTuple):
    """What vmm needs from an ELF kernel."""

    entry: int
    segments: tuple[ElfSegment, ...]
    pvh_entry: int | None

    @property
    def start(self) -> int:
        return min(segment.paddr for segment in self.segments)

    @property
    def end(self) -> int:
        return max(segment.paddr + segment.mem_size for segment in self.segments)


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


def parse_elf(data: bytes, path: str) -> ElfImage:
    """Parse an ELF64 little-endian x86-64 executable; one-line ImageError otherwise."""
    if len(data) < _EHDR.size:
        raise ImageError(f"kernel {path!r} is a truncated ELF file")
    ident, _type, machine, _version, entry, phoff, _shoff, _flags, _ehsize, phentsize, \
        phnum, *_ = _EHDR.unpack_from(data)
    if ident[4] != ELFCLASS64 or ident[5] != ELFDATA2LSB or machine != EM_X86_64:
        raise ImageError(f"kernel {path!r} is an ELF file but not a 64-bit x86-64 one")
    if phentsize != _PHDR.size or phoff + phnum * phentsize > len(data):
        raise ImageError(f"kernel {path!r} has a damaged ELF program header table")
    segments = []
    pvh_entry = None
    for index in range(phnum):
        p_type, _pflags, offset, _vaddr, paddr, filesz, memsz, _align = _PHDR.unpack_from(
            data, phoff + index * phentsize)
        if offset + filesz > len(data):
            raise ImageError(f"kernel {path!r}: ELF segment {index} runs past the end of the file")
        if p_type == PT_LOAD and memsz:
            if filesz > memsz:
                raise ImageError(f"kernel {path!r}: ELF segment {index} is larger in the file than in memory")
            segments.append(ElfSegment(paddr, offset, filesz, memsz))
        elif p_type == PT_NOTE:
            pvh_entry = _pvh_entry(data[offset : offset + filesz]) or pvh_entry
    if not segments:
        raise ImageError(f"kernel {path!r} has no loadable ELF segment")
    return ElfImage(entry, tuple(segments), pvh_entry)


def _pvh_entry(notes: bytes) -> int | None:
    """XEN_ELFNOTE_PHYS32_ENTRY's address in a PT_NOTE segment, if present."""
    position = 0
    while position + _NHDR.size <= len(notes):
        namesz, descsz, note_type = _NHDR.unpack_from(notes, position)
        name_start = position + _NHDR.size
        desc_start = name_start + (namesz + 3) // 4 * 4
        desc_end = desc_start + descsz
        if desc_end > len(notes):
            return None
        name = notes[name_start : name_start + namesz].rstrip(b"\0")
        if name == XEN_NOTE_NAME and note_type == XEN_ELFNOTE_PHYS32_ENTRY and descsz in (4, 8):
            return int.from_bytes(notes[desc_start:desc_end], "little")
        position = desc_start + (descsz + 3) // 4 * 4
    return None
