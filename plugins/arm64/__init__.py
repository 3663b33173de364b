"""The arm64 architecture plugin: kvmtool's arm64 machine on KVM.

RAM at 2 GiB, an in-kernel vGICv3 (or v2), the architected timer, PSCI 0.2 through
HVC, an 8250 UART at 0x1000000, optional CFI flash, stolen time, SVE and MTE when KVM
offers them, a PMU with ``--pmu``, and a generated device tree. The model of KVM for arm64
(:mod:`.model`) makes ``--dry-run`` and the tests work on any host.

For layers on arm64 and other plugins
-------------------------------------

State: ``vm.stash[vmm.plugins.arm64.state.ARM64]`` (or ``arm64_state(vm)``), an
:class:`~.state.Arm64State` with ``ipa_bits``/``ipa_limit`` (set in ``vmm_vm_type``),
``sve_enabled``, ``pmu_enabled``, ``vcpu_features`` (set in the first
``vmm_vcpu_init``), ``pvtime_enabled``, ``mte_enabled``, ``irqchip``,
``dtb_address`` (known once the kernel or firmware is loaded), ``dtb`` (bytes),
``kernel``/``initrd``/``firmware`` (LoadedImage), ``mpidrs``, ``devices``.

Points to hook:

- ``vmm_vm_type``: returns ``ipa_bits`` (or 0 without KVM_CAP_ARM_VM_IPA_SIZE); a
  ``wrapper=True`` layer adjusts it. :func:`.machine.compute_ipa_bits` redoes the
  computation and its "memory too large" check.
- ``vmm_core_init`` (plain): MTE, then the vGIC. A layer's plain ``vmm_core_init``
  runs before it (layers are registered later, so called first).
- ``vmm_vcpu_features``: the KVM_ARM_VCPU_INIT feature bits (:func:`.vcpu.vcpu_features`);
  a ``wrapper=True`` layer adds its own. SVE is among them when KVM has it and
  ``vmm_arm64_sve`` says so (arm64's own hook, :mod:`.hookspecs`: "unless
  --disable-sve"; a layer answers first).
- ``vmm_vcpu_init``: KVM_ARM_PREFERRED_TARGET, KVM_ARM_VCPU_INIT with those features.
- ``vmm_vcpu_boot_registers``: ``{"pstate", "x0".."x3", "pc"}`` for vCPU 0,
  ``{"pstate"}`` for the others, in that order; a wrapper may drop "pstate".
- ``vmm_vcpu_finalize``: FINALIZE(SVE) when SVE is on; a ``trylast`` layer runs after.
- ``vmm_kernel_loaded`` / ``vmm_image_loaded(kind="initrd"|"dtb")``: every image is
  announced once written (the DTB with its 64 KiB window as ``mem_size``).
- ``vmm_psci_method``: "hvc"; ``vmm_register_dump``: the readable dump.
- The model: :class:`.model.Arm64Model` with small extension points (see its module).

Devices get interrupts from ``vm.irqchip`` (:class:`.irqchip.Vgic`: ``allocate``,
``set_level``, ``irqfd``, ``fdt_interrupt``) and add device tree nodes through
``vmm_device_tree``; ``layout.windows`` names "virtio_mmio", "pci_ecam", "pci_mmio"
(see :mod:`.pci_node` for the PCI host bridge contract).

Heavy imports (cffi declarations, the model) happen inside the hooks, and the hook
modules themselves only when the plugin is registered (:mod:`vmm.core.lazyhooks`):
a run on another architecture never imports them.
"""

from vmm.core.lazyhooks import lazy_hooks

VMM_ARCH = "arm64"
#: ``os.uname().machine`` of the hosts where this is the native arch (--arch's default).
VMM_HOST_MACHINES = ("aarch64", "arm64")

__getattr__, __dir__ = lazy_hooks(__name__)
