"""The in-kernel GICv3 ITS (``--irqchip gicv3-its``): MSIs for virtio-pci on arm64.

KVM's ITS (KVM_DEV_TYPE_ARM_VGIC_ITS, Documentation/virt/kvm/devices/arm-vgic-its.rst)
is a second KVM device next to the vGICv3. Its 128 KiB register frame sits right
below the redistributors (inside the layout's "gic" window); it is initialised with
KVM_DEV_ARM_VGIC_CTRL_INIT after the vGIC, before any vCPU runs.

Once a VM has an ITS, KVM wants every MSI tagged with the sender's DeviceID
(KVM_MSI_VALID_DEVID): for PCI, the requester ID (bus << 8 | device << 3 | function),
which is what Linux uses when the host bridge names the ITS in ``msi-parent``
without an ``msi-map``.
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

from vmm.core.errors import ConfigError, KvmError

from . import layout as mm
from . import uapi as u

if TYPE_CHECKING:
    from vmm.core.fdt import FdtBuilder
    from vmm.core.kvm.fds import DeviceFd, VmFd

log = logging.getLogger(__name__)

#: The ITS control frame: 64 KiB aligned, 128 KiB long (the translater page included).
ITS_FRAME_SIZE = mm.GIC_ITS_SIZE
ITS_ALIGN = mm.SZ_64K


def its_base(redistributors_base: int) -> int:
    """Where the ITS frame goes: right below the redistributors, 64 KiB aligned."""
    return mm.align_down(redistributors_base - ITS_FRAME_SIZE, ITS_ALIGN)


class Its:
    """The ITS device fd and its frame; ``phandle`` is set by the device-tree writer."""

    def __init__(self, device: DeviceFd, base: int) -> None:
        self.device = device
        self.base = base
        self.phandle = 0

    def initialize(self) -> None:
        """KVM_DEV_ARM_VGIC_CTRL_INIT on the ITS (after the vGIC's own)."""
        self.device.set_attr(u.KVM_DEV_ARM_VGIC_GRP_CTRL, u.KVM_DEV_ARM_VGIC_CTRL_INIT)

    def write_fdt_node(self, fdt: FdtBuilder, reg_cells: list[int]) -> None:
        """The ``msi-controller`` node, a child of the GIC's node."""
        with fdt.node(f"msi-controller@{self.base:x}"):
            fdt.property_string("compatible", "arm,gic-v3-its")
            fdt.property_empty("msi-controller")
            fdt.property_cells("reg", reg_cells)
            fdt.property_phandle(self.phandle)


def create_its(vmfd: VmFd, redistributors_base: int) -> Its:
    """Create KVM's ITS and place its frame; a one-line error if the host has none."""
    try:
        device = vmfd.create_device(u.KVM_DEV_TYPE_ARM_VGIC_ITS)
    except KvmError as error:
        if error.errno not in (errno.ENODEV, errno.ENXIO, errno.EINVAL):
            raise
        log.debug("no in-kernel ITS: %s", error)
        raise ConfigError(
            "this host's KVM has no in-kernel GICv3 ITS: use --irqchip gicv3 "
            "(virtio-pci then interrupts through INTx)"
        ) from None
    its = Its(device, its_base(redistributors_base))
    device.set_attr(u.KVM_DEV_ARM_VGIC_GRP_ADDR, u.KVM_VGIC_ITS_ADDR_TYPE,
                    u.ffi.new("uint64_t *", its.base))
    return its
