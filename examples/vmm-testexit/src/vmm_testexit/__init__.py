"""vmm-testexit: a test guest ends the VM with the exit status it chooses.

The devices QEMU gives test guests, with QEMU's behaviour, so a guest written for
QEMU (kvm-unit-tests, a bare-metal test) ends a vmm VM the same way:

- x86: an isa-debug-exit port (``--testexit-port``, default 0xf4, the port
  kvm-unit-tests gives QEMU's device): writing ``v`` ends the VM with status
  ``(v << 1) | 1``;
- arm64, riscv: a sifive_test register (``--testexit-addr``, default: a 4 KiB range
  vmm allocates), found by the guest in the device tree (``compatible =
  "vmm,test-exit", "sifive,test0"``): writing 0x5555 ends the VM with status 0,
  ``0x3333 | status << 16`` with ``status``.

The hooks are in :mod:`.hooks`, the device in :mod:`.device`; this module stays
light because vmm imports every plugin at start-up.
"""

from .hooks import (  # noqa: F401
    vmm_addoption,
    vmm_dev_exit,
    vmm_dev_init,
    vmm_device_tree,
    vmm_validate_config,
)
