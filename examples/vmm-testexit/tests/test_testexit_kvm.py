"""The port device under a real x86 guest on /dev/kvm.

``vmm_kvm_guest`` (vmm's pytest plugin) runs ``vmm run`` on an image and returns its
exit status within a timeout; without /dev/kvm the test is skipped, or fails when
``VMM_REQUIRE_KVM=1`` (CI). This machine's /dev/kvm is x86, so the MMIO device is
tested on the model (test_testexit.py).
"""

from __future__ import annotations

import pytest


def x86_exit_guest(port: int, value: int) -> bytes:
    """Flat 16-bit real-mode code (``vmm run --flat``): ``mov dx, port; mov al, value;
    out dx, al``, then ``cli; hlt`` in case the write did not end the VM."""
    return b"".join([
        b"\xba" + port.to_bytes(2, "little"),  # mov dx, port
        b"\xb0" + bytes([value]),              # mov al, value
        b"\xee",                               # out dx, al
        b"\xfa\xf4",                           # cli; hlt
    ])


@pytest.mark.parametrize(("port", "value", "options"), [
    (0xF4, 0x15, []),
    (0x510, 0x00, ["--testexit-port", "0x510"]),
])
def test_guest_ends_the_vm_with_its_status(vmm_kvm_guest, port, value, options):
    run = vmm_kvm_guest(x86_exit_guest(port, value), *options, arch="x86", flat=True)
    assert run.status == (value << 1) | 1, run.stderr


def test_guest_writing_elsewhere_halts_and_vmm_ends_it(vmm_kvm_guest):
    """A guest that misses the device halts with interrupts off: vmm ends it (status 1,
    it wrote nothing) well within the timeout instead of hanging the test."""
    run = vmm_kvm_guest(x86_exit_guest(0x0F00, 1), arch="x86", flat=True, timeout=60)
    assert run.status == 1 and "can never continue" in run.stderr
