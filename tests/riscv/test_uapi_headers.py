"""The riscv cdef against the kernel's own header (Debian's linux-libc-dev-riscv64-cross).

riscv64 and this host are both LP64, so the host's compiler lays the riscv header's
structs out as a riscv64 compiler would. The Debian header may be older than the
cdef (fewer CONFIG fields): every field it has must sit where the cdef puts it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from vmm.core.testing import skip_or_fail
from vmm.plugins.riscv import registers as regs
from vmm.plugins.riscv import uapi
from vmm.plugins.riscv.uapi import ffi

CROSS_INCLUDE = "/usr/riscv64-linux-gnu/include"
STRUCTS = ("kvm_riscv_config", "kvm_riscv_core", "kvm_riscv_csr", "kvm_riscv_timer",
           "user_regs_struct")
#: Structs the kernel extends at the end (CONFIG gained satp_mode..., CSR senvcfg).
GROWING = ("kvm_riscv_config", "kvm_riscv_csr")


def _header_fields(name: str, header: str) -> list[str]:
    body = re.search(rf"struct {name} \{{(.*?)\}};", header, re.S)
    assert body, name
    return re.findall(r"(\w+);", body.group(1))


@pytest.fixture(scope="module")
def kernel_layout(tmp_path_factory) -> dict[tuple[str, str], int]:
    kvm_h = os.path.join(CROSS_INCLUDE, "asm", "kvm.h")
    gcc = shutil.which("gcc")
    if gcc is None or not os.path.exists(kvm_h):
        skip_or_fail("needs gcc and the riscv64 kernel headers (linux-libc-dev-riscv64-cross)")
    headers = {"kvm_riscv": open(kvm_h).read(),
               "user_regs": open(os.path.join(CROSS_INCLUDE, "asm", "ptrace.h")).read()}
    lines = []
    for struct in STRUCTS:
        text = headers["user_regs" if struct == "user_regs_struct" else "kvm_riscv"]
        for field in _header_fields(struct, text):
            lines.append(f'printf("{struct} {field} %zu\\n", offsetof(struct {struct}, {field}));')
        lines.append(f'printf("{struct} sizeof %zu\\n", sizeof(struct {struct}));')
    source = tmp_path_factory.mktemp("uapi") / "layout.c"
    source.write_text("#include <stdio.h>\n#include <stddef.h>\n#include <asm/kvm.h>\n"
                      "int main(void) {\n" + "\n".join(lines) + "\nreturn 0;\n}\n")
    binary = source.with_suffix("")
    subprocess.run([gcc, "-I", CROSS_INCLUDE, "-o", str(binary), str(source)], check=True,
                   capture_output=True)
    output = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    return {(s, f): int(v) for s, f, v in (line.split() for line in output.splitlines())}


def test_fields_sit_where_the_kernel_puts_them(kernel_layout):
    checked = 0
    for (struct, field), offset in kernel_layout.items():
        ctype = f"struct {struct}"
        if field == "sizeof":
            if struct not in GROWING:  # the cdef may know newer fields at their ends
                assert ffi.sizeof(ctype) == offset, struct
            continue
        assert ffi.offsetof(ctype, field) == offset, (struct, field)
        checked += 1
    assert checked > 40


def test_register_ids_match_the_kernel_formula(kernel_layout):
    """KVM_REG_RISCV | KVM_REG_SIZE_U64 | type | offset / sizeof(unsigned long)."""
    u64 = 0x8030_0000_0000_0000
    regs_offset = kernel_layout[("kvm_riscv_core", "regs")]
    assert regs.register_id("pc") == u64 | 2 << 24 | (regs_offset + kernel_layout[
        ("user_regs_struct", "pc")]) // 8
    assert regs.register_id("a1") == u64 | 2 << 24 | kernel_layout[("user_regs_struct", "a1")] // 8
    assert regs.register_id("mode") == u64 | 2 << 24 | kernel_layout[("kvm_riscv_core", "mode")] // 8
    assert regs.register_id("config.isa") == u64 | 1 << 24
    assert regs.register_id("timer.frequency") == u64 | 4 << 24
    assert regs.register_id("csr.satp") == u64 | 3 << 24 | kernel_layout[("kvm_riscv_csr", "satp")] // 8
    assert regs.isa_ext_id(8) == u64 | 7 << 24 | 8
    assert uapi.KVM_INTERRUPT.number == 0x4004_AE86  # _IOW(KVMIO, 0x86, __u32)
