"""The vmm plugin contract: every hook a plugin may implement.

Conventions (as pytest's hookspec): every hook has the ``vmm_`` prefix, a one-line
summary, says when it is called and how results combine in a fixed phrase, and
documents each parameter. ``tests/test_hookspecs.py`` fails when any of that is
missing, and ``docs/plugins.md`` is generated from these docstrings.

Result phrases used below:

- "Stops at first non-None result": a ``firstresult`` hook; plugins registered
  later (layers, entry-point plugins) are asked first.
- "Called for every plugin": each implementation runs; return values are ignored.
- "All results are OR-ed": the caller ORs the integers every plugin returns.
- "All results are collected": the caller receives the list of every result.

Plugins are called in pluggy's order: the last registered first, so a layer such as
``arm64_realm`` (registered after ``arm64``) runs before the arch plugin it layers
on, and its ``wrapper=True`` implementations see and may change the arch plugin's
result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from vmm import NAME

if TYPE_CHECKING:  # pragma: no cover - imported for annotations only
    from collections.abc import Sequence

    import typer

    from vmm.core.bus import Access
    from vmm.core.config import Config
    from vmm.core.contracts import VirtioDevice
    from vmm.core.fdt import FdtBuilder
    from vmm.core.images import LoadedImage
    from vmm.core.kvm.exits import Exit
    from vmm.core.layout import MemoryLayout
    from vmm.core.memory import RamRegion
    from vmm.core.model.base import ArchModel
    from vmm.core.nested.spec import EmulatedHost
    from vmm.core.options import OptionGroup
    from vmm.core.vcpu import Vcpu
    from vmm.core.vm import Vm

hookspec = pluggy.HookspecMarker(NAME)


# --------------------------------------------------------------------------
# Plugins
# --------------------------------------------------------------------------


@hookspec(historic=True)
def vmm_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add a plugin's own hooks, for the plugins registered after it to implement.

    Called once for each plugin as it is registered (a historic hook: a plugin
    registered later is called too). Call ``pluginmanager.add_hookspecs(module)``
    with a module of ``@hookspec`` functions (``vmm.hookspecs.hookspec``) named
    ``vmm_<plugin>_<what>``, documented as these are. This is how an arch plugin
    offers a point for its layers to change what it does (arm64's
    ``vmm_arm64_sve``) without their touching its options or its code.

    Called for every plugin.

    :param pluginmanager: The run's plugin manager.
    """


# --------------------------------------------------------------------------
# Command line and configuration
# --------------------------------------------------------------------------


@hookspec
def vmm_addoption(group: OptionGroup) -> None:
    """Declare command-line options for ``vmm run``.

    Called once per plugin when the ``run`` command is built, before the command
    line is parsed; each plugin gets its own option group, shown as its own panel in
    ``vmm run --help``. The plugin reads the values from its own read-only
    namespace, ``config.options_of(name)``, one attribute per option's destination
    name, the default for an option not given.

    ``group.arch`` is the architecture the command line is for (``--arch``, else the
    host's; None when unknown), so one plugin can declare per-arch options; or give
    ``group.addoption(..., arches=("x86",))``: for other architectures that option
    does not exist.

    Called for every plugin.

    :param group: The plugin's option group; call ``group.addoption(...)``.
    """


@hookspec
def vmm_add_commands(app: typer.Typer) -> None:
    """Add subcommands (for example ``vmm realm measure``) to the ``vmm`` program.

    Called once when the command-line program is built, for every installed plugin
    whatever the chosen architecture, so keep imports inside the command functions.

    Called for every plugin.

    :param app: The top-level typer application; add commands or sub-apps to it.
    """


@hookspec
def vmm_validate_config(config: Config, pluginmanager: pluggy.PluginManager) -> None:
    """Check the configuration before anything is created.

    Called once after the command line is parsed and the options are bound, before
    the VM exists. Reject a configuration by raising ``vmm.core.errors.ConfigError``
    with a one-line reason that says what was wrong and what to do. The options are
    read-only: a plugin keeps what it derives from them in its own state.

    Called for every plugin.

    :param config: The parsed configuration.
    :param pluginmanager: The run's plugin manager, to ask other plugins
        (``pluginmanager.hook.vmm_virtio_transports(config=config)``).
    """


@hookspec(firstresult=True)
def vmm_kvm_model(config: Config) -> ArchModel | None:
    """Give the architecture part of the model backend (a Python model of KVM).

    Called once when the model backend is chosen (``--dry-run`` or tests). Layers
    wrap the arch plugin's model (``wrapper=True``) to add their own behaviour.

    Stops at first non-None result.

    :param config: The parsed configuration.
    """


# --------------------------------------------------------------------------
# Creating the VM and its memory
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def vmm_vm_type(vm: Vm) -> int | None:
    """Compute the machine type passed to KVM_CREATE_VM.

    Called once, after /dev/kvm is opened and before the VM fd exists (``vm.kvm`` is
    the system fd). Layers adjust the arch plugin's result with ``wrapper=True``.

    Stops at first non-None result; ``None`` everywhere means type 0.

    :param vm: The VM being built; ``vm.vmfd`` is not yet set.
    """


@hookspec(firstresult=True)
def vmm_memory_layout(config: Config) -> MemoryLayout | None:
    """Describe the guest physical address map: RAM banks and reserved windows.

    Called once, before the VM type is computed (the type may depend on the highest
    RAM address).

    Stops at first non-None result.

    :param config: The parsed configuration (``config.mem_mib`` is the RAM size).
    """


@hookspec(firstresult=True)
def vmm_private_memory(vm: Vm) -> bool | None:
    """Say whether guest RAM is private memory, backed by guest_memfd.

    Called once in the core stage, after the plugins' ``vmm_core_init`` and before
    RAM is registered with KVM. For a confidential VM type that keeps guest memory
    out of the host's reach, a plugin returns True: the core then backs every RAM
    bank with a guest_memfd (KVM_CREATE_GUEST_MEMFD, KVM_SET_USER_MEMORY_REGION2),
    makes it private (KVM_SET_MEMORY_ATTRIBUTES), and answers the guest's
    KVM_EXIT_MEMORY_FAULT exits by converting the range it names between private
    and shared. The host mapping stays the shared view and the source of whatever
    the plugin copies into private memory.

    Stops at first non-None result; ``None`` everywhere means ordinary memory.

    :param vm: The VM being built; ``vm.vmfd`` exists.
    """


@hookspec
def vmm_memory_allocated(vm: Vm, region: RamRegion) -> None:
    """Prepare a freshly mapped RAM region before KVM is told about it.

    Called once per RAM region, after its host mapping exists and before
    KVM_SET_USER_MEMORY_REGION: advise the kernel (MADV_MERGEABLE, MADV_HUGEPAGE) or
    lock it in memory (a realm).

    Called for every plugin.

    :param vm: The VM being built.
    :param region: The RAM region, with its host address and guest address.
    """


# --------------------------------------------------------------------------
# Init and exit stages (kvmtool's init lists, after the series' last_init)
# --------------------------------------------------------------------------


@hookspec
def vmm_core_init(vm: Vm) -> None:
    """Init stage "core": the VM, its arch setup, guest RAM and the images.

    Called once, first of the init stages. The core's own implementation runs first
    (``tryfirst``: opens KVM, computes the VM type, creates the VM), then the plugins'
    (a realm layer configures and creates the realm descriptor, the arch plugin
    creates its irqchip), and last the core maps RAM and loads kernel, initrd or
    firmware (``trylast``), as kvmtool's ``kvm__init`` does. If a later stage fails,
    ``vmm_core_exit`` is called.

    Called for every plugin.

    :param vm: The VM being built.
    """


@hookspec
def vmm_base_init(vm: Vm) -> None:
    """Init stage "base": vCPUs are created and initialised.

    Called once, after the core stage.

    Called for every plugin.

    :param vm: The VM being built.
    """


@hookspec
def vmm_dev_base_init(vm: Vm) -> None:
    """Init stage "dev_base": buses and interrupt controllers.

    Called once, after the base stage.

    Called for every plugin.

    :param vm: The VM being built.
    """


@hookspec
def vmm_dev_init(vm: Vm) -> None:
    """Init stage "dev": ordinary devices (serial, i8042, flash, ...).

    Called once, after the dev_base stage.

    Called for every plugin.

    :param vm: The VM being built.
    """


@hookspec
def vmm_virtio_dev_init(vm: Vm) -> None:
    """Init stage "virtio_dev": virtio devices and their transports.

    Called once, after the dev stage.

    Called for every plugin.

    :param vm: The VM being built.
    """


@hookspec
def vmm_firmware_init(vm: Vm) -> None:
    """Init stage "firmware": firmware tables (x86 MP/ACPI tables, boot parameters).

    Called once, after the virtio_dev stage.

    Called for every plugin.

    :param vm: The VM being built.
    """


@hookspec
def vmm_late_init(vm: Vm) -> None:
    """Init stage "late": the interrupt controller is finalised, the device tree written.

    Called once, after the firmware stage.

    Called for every plugin.

    :param vm: The VM being built.
    """


@hookspec
def vmm_last_init(vm: Vm) -> None:
    """Init stage "last" (added by the series): the final step before any KVM_RUN.

    Called once, after the late stage. The core resets every vCPU here first, in
    ascending vCPU id (MPIDR) order, calling ``vmm_vcpu_finalize`` for each; a realm
    is then activated by its layer.

    Called for every plugin.

    :param vm: The VM being built.
    """


@hookspec
def vmm_core_exit(vm: Vm) -> None:
    """Exit stage "core": undo ``vmm_core_init``.

    Called once at shutdown, last of the exit stages, and only if the core init
    stage completed.

    Called for every plugin.

    :param vm: The VM being torn down.
    """


@hookspec
def vmm_base_exit(vm: Vm) -> None:
    """Exit stage "base": undo ``vmm_base_init``.

    Called once at shutdown (or after a later init stage failed), if the base init
    stage completed.

    Called for every plugin.

    :param vm: The VM being torn down.
    """


@hookspec
def vmm_dev_base_exit(vm: Vm) -> None:
    """Exit stage "dev_base": undo ``vmm_dev_base_init``.

    Called once at shutdown, if the dev_base init stage completed.

    Called for every plugin.

    :param vm: The VM being torn down.
    """


@hookspec
def vmm_dev_exit(vm: Vm) -> None:
    """Exit stage "dev": undo ``vmm_dev_init`` (flush and close device backends).

    Called once at shutdown, if the dev init stage completed.

    Called for every plugin.

    :param vm: The VM being torn down.
    """


@hookspec
def vmm_virtio_dev_exit(vm: Vm) -> None:
    """Exit stage "virtio_dev": undo ``vmm_virtio_dev_init`` (flush disks, close taps).

    Called once at shutdown, if the virtio_dev init stage completed.

    Called for every plugin.

    :param vm: The VM being torn down.
    """


@hookspec
def vmm_firmware_exit(vm: Vm) -> None:
    """Exit stage "firmware": undo ``vmm_firmware_init``.

    Called once at shutdown, if the firmware init stage completed.

    Called for every plugin.

    :param vm: The VM being torn down.
    """


@hookspec
def vmm_late_exit(vm: Vm) -> None:
    """Exit stage "late": undo ``vmm_late_init``; kvmtool prints compat warnings here.

    Called once at shutdown, if the late init stage completed.

    Called for every plugin.

    :param vm: The VM being torn down.
    """


@hookspec
def vmm_last_exit(vm: Vm) -> None:
    """Exit stage "last" (added by the series): undo ``vmm_last_init``.

    Called once at shutdown, first of the exit stages, if the last init stage
    completed.

    Called for every plugin.

    :param vm: The VM being torn down.
    """


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def vmm_builtin_guest(config: Config) -> str | None:
    """Name the guest to boot when neither ``--kernel`` nor ``--firmware`` is given.

    Called once when the kernel is loaded (and by ``vmm.core.testing`` when it
    builds a VM) without a kernel or firmware on the command line. Return the path of
    a kernel image the arch's ``vmm_load_kernel`` boots: the arch plugin's small
    built-in guest that prints a greeting and powers off. Without an answer, ``vmm
    run`` asks for ``-k``.

    Stops at first non-None result.

    :param config: The run's configuration.
    """


@hookspec(firstresult=True)
def vmm_load_kernel(vm: Vm, data: bytes, path: str) -> LoadedImage | None:
    """Place a kernel image in guest memory and say where it went.

    Called once at the end of the core stage, after guest RAM exists, when
    ``--kernel`` is given (or the built-in guest is used). Recognise the format
    (bzImage, ELF, arm64 or riscv Image, flat binary), write it with ``vm.memory``, and return the loaded image. Raise
    ``ImageError`` for an image this architecture cannot boot.

    Stops at first non-None result.

    :param vm: The VM being built.
    :param data: The whole file.
    :param path: The file's path, for messages.
    """


@hookspec(firstresult=True)
def vmm_load_initrd(vm: Vm, data: bytes, path: str) -> LoadedImage | None:
    """Place an initrd in guest memory where the arch's boot protocol expects it.

    Called once in the core stage, right after the kernel was loaded and announced,
    when ``--initrd`` is given. Raise ``ImageError`` when it does not fit in RAM.

    Stops at first non-None result.

    :param vm: The VM being built; ``vm.kernel`` is the loaded kernel.
    :param data: The whole file.
    :param path: The file's path, for messages.
    """


@hookspec(firstresult=True)
def vmm_load_firmware(vm: Vm, data: bytes, path: str) -> LoadedImage | None:
    """Place a firmware image (``--firmware``) in guest memory.

    Called once at the end of the core stage, after guest RAM exists, when
    ``--firmware`` is given (instead of a kernel).

    Stops at first non-None result.

    :param vm: The VM being built.
    :param data: The whole file.
    :param path: The file's path, for messages.
    """


@hookspec
def vmm_kernel_loaded(vm: Vm, image: LoadedImage) -> None:
    """Announce the loaded kernel (or firmware): its guest start and size.

    The series' "kernel size in the VM context" (patch 17). Called once, right
    after the kernel or firmware image is in guest memory; ``image.guest_start``,
    ``image.file_size`` and ``image.mem_size`` (the size including BSS as the image
    header declares) are set. A realm populates the pages here.

    Called for every plugin.

    :param vm: The VM being built.
    :param image: The loaded kernel or firmware.
    """


@hookspec
def vmm_image_loaded(vm: Vm, image: LoadedImage) -> None:
    """Announce another image placed in guest memory: the initrd or the device tree.

    Called once per image right after it is written (``image.kind`` is "initrd" or
    "dtb"; for the device tree ``image.mem_size`` is the reserved window).

    Called for every plugin.

    :param vm: The VM being built.
    :param image: The loaded image.
    """


# --------------------------------------------------------------------------
# Device tree
# --------------------------------------------------------------------------


@hookspec
def vmm_device_tree(vm: Vm, fdt: FdtBuilder) -> None:
    """Add device nodes to the flattened device tree while the arch plugin builds it.

    Called once, inside the arch plugin's device tree construction (late stage),
    with the builder positioned inside the root node; each device adds its own node,
    ``with fdt.node(f"mydev@{base:x}"):``, then its properties. The root has two
    address cells and two size cells on arm64 and riscv, so write ``reg`` with
    ``fdt.property_reg([(base, size)])``, which uses the parent's cell sizes.

    Called for every plugin.

    :param vm: The VM being built.
    :param fdt: The device tree builder: ``node(name)`` (a context manager),
        ``property_reg``, ``property_string``, ``property_string_list``,
        ``property_u32``, ``property_cells``, ``property_empty``, ``property`` (raw
        bytes), ``property_phandle``; see "The device tree builder".
    """


@hookspec(firstresult=True)
def vmm_psci_method(vm: Vm) -> str | None:
    """Give the PSCI conduit written in the device tree's psci node.

    Called once when the device tree is built on architectures with PSCI. The arch
    plugin says "hvc"; a realm layer wraps it to give "smc" (patch 23).

    Stops at first non-None result.

    :param vm: The VM being built.
    """


# --------------------------------------------------------------------------
# vCPUs
# --------------------------------------------------------------------------


@hookspec
def vmm_vcpu_init(vm: Vm, vcpu: Vcpu) -> None:
    """Initialise a freshly created vCPU (CPUID, KVM_ARM_VCPU_INIT, ISA registers).

    Called once per vCPU in the base stage, right after KVM_CREATE_VCPU, in
    ascending vCPU id order.

    Called for every plugin.

    :param vm: The VM being built.
    :param vcpu: The new vCPU.
    """


@hookspec(firstresult=True)
def vmm_vcpu_features(vm: Vm) -> int | None:
    """Give the feature bits KVM is asked to initialise every vCPU with.

    What the bits mean is the arch plugin's (arm64: ``kvm_vcpu_init.features[0]``,
    secondaries adding POWER_OFF). Called once, from the arch plugin's
    ``vmm_vcpu_init`` of the first vCPU; a layer adds or removes bits with
    ``wrapper=True``.

    Stops at first non-None result.

    :param vm: The VM being built; ``vm.vmfd`` exists.
    """


@hookspec(firstresult=True)
def vmm_vcpu_boot_registers(vm: Vm, vcpu: Vcpu) -> dict[str, int] | None:
    """Give the registers to set when a vCPU is reset before it first runs.

    Called once per vCPU in the last init stage, in ascending vCPU id order. The
    arch plugin returns a mapping of register names (as its ``vcpu.set_reg`` knows
    them) to values; a layer may drop or add entries with ``wrapper=True`` (a realm
    drops PSTATE). The core writes them in the mapping's order.

    Stops at first non-None result.

    :param vm: The VM being built.
    :param vcpu: The vCPU being reset.
    """


@hookspec
def vmm_vcpu_finalize(vm: Vm, vcpu: Vcpu) -> None:
    """Finalise a vCPU after its reset (KVM_ARM_VCPU_FINALIZE).

    Called once per vCPU in the last init stage, after its boot registers were
    set, in ascending vCPU id (MPIDR) order, which the RMM requires for RECs.

    Called for every plugin.

    :param vm: The VM being built.
    :param vcpu: The vCPU that was just reset.
    """


@hookspec(firstresult=True)
def vmm_register_dump(vcpu: Vcpu) -> str | None:
    """Render a vCPU's registers for a crash report or ``--debug``.

    Called when a vCPU stops on an error and the user asked for details. A realm
    layer refuses (the registers are not accessible).

    Stops at first non-None result.

    :param vcpu: The vCPU to describe.
    """


# --------------------------------------------------------------------------
# Running: exits the bus did not handle
# --------------------------------------------------------------------------


@hookspec
def vmm_mmio_unhandled(vcpu: Vcpu, access: Access) -> None:
    """React to an MMIO access that no device claimed (the series' patch 29).

    Called on the vCPU thread for each such access, after the core filled a read
    with zeros. A realm injects a synchronous external abort.

    Called for every plugin.

    :param vcpu: The vCPU that made the access.
    :param access: Address, size, direction and data of the access.
    """


@hookspec(firstresult=True)
def vmm_decode_exit(vcpu: Vcpu, reason: int, run: Any) -> Exit | None:
    """Decode an exit reason only the architecture has (riscv's SBI calls).

    Called on the vCPU thread after KVM_RUN returned a reason the core does not
    decode itself (it decodes port I/O, MMIO, system events, internal errors,
    memory faults and failed entries). Read the arch's member of ``run``'s union and return a
    ``vmm.core.kvm.exits.Exit`` subclass, which ``vmm_handle_exit`` then gets; write
    any answer back into ``run`` before the exit is handled.

    Stops at first non-None result; without one the exit is a bare ``Exit(reason)``.

    :param vcpu: The vCPU that exited.
    :param reason: ``kvm_run.exit_reason``.
    :param run: The vCPU's ``kvm_run`` area (cffi ``struct kvm_run *``).
    """


@hookspec(firstresult=True)
def vmm_vcpu_stalled(vcpu: Vcpu) -> str | None:
    """Say whether a vCPU can never continue on its own: a halt nothing can wake.

    Called on the vCPU thread about once a second while the VM runs, after vmm
    made KVM_RUN return to look (an in-kernel irqchip handles HLT without any exit,
    so a guest stuck there is never seen otherwise). When every vCPU answers with
    a reason in the same round, the core ends the VM: status 0 if the guest wrote
    output (it stopped on purpose), else a one-line error and status 1.

    Stops at first non-None result.

    :param vcpu: The vCPU to look at (its registers and state may be read).
    :returns: a short reason ("halted with interrupts disabled"), or None.
    """


@hookspec(firstresult=True)
def vmm_handle_exit(vcpu: Vcpu, exit: Exit) -> bool | None:
    """Handle a KVM exit the core does not know (system events, SBI calls, HLT).

    Called on the vCPU thread for each exit that is not port I/O or MMIO. Return
    True when handled; call ``vcpu.vm.request_stop(code)`` (0 to 255) to end the VM.

    Stops at first non-None result; ``None`` everywhere is a fatal "unhandled exit".

    :param vcpu: The vCPU that exited.
    :param exit: The decoded exit.
    """


# --------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------


@hookspec
def vmm_virtio_host_features(vm: Vm, device: VirtioDevice) -> int:
    """Give extra virtio feature bits the host offers for a device.

    The series' ``kvm__arch_get_virtio_host_features`` (patch 27). Called each time
    a transport reads a device's feature bits; a realm forces
    VIRTIO_F_ACCESS_PLATFORM (bit 33).

    All results are OR-ed (with the device's own features).

    :param vm: The running VM.
    :param device: The virtio device whose features are read.
    """


@hookspec(firstresult=True)
def vmm_virtio_transports(config: Config) -> Sequence[str] | None:
    """Name the virtio transports the architecture's guests can find, default first.

    ``"mmio"`` (virtio-mmio devices in the layout's ``virtio_mmio`` window, described
    in the device tree) and ``"pci"`` (a PCI host bridge: configuration ports, ECAM
    in the ``pci_ecam`` window if the layout has one). ``--virtio-transport`` may pick
    any of them; another is refused. kvmtool: the arch's ``VIRTIO_DEFAULT_TRANS``.

    Called once by the virtio plugin when it validates the configuration, and again
    when it places the devices (the virtio_dev stage).

    Stops at first non-None result; without one, both are offered, mmio first.

    :param config: The parsed configuration.
    """


# --------------------------------------------------------------------------
# Emulated KVM hosts (``vmm nested``)
# --------------------------------------------------------------------------


@hookspec
def vmm_nested_addoption(group: OptionGroup) -> None:
    """Declare command-line options for ``vmm nested`` (variants of an emulated host).

    Called once per plugin when the ``nested`` command is built, before the command
    line is parsed; each plugin gets its own option group, shown as its own panel in
    ``vmm nested --help``. Parsed values reach ``vmm_emulated_host`` as ``options``
    under each option's destination name.

    Called for every plugin.

    :param group: The plugin's option group; call ``group.addoption(...)``.
    """


@hookspec(firstresult=True)
def vmm_emulated_host(arch: str, options: dict[str, Any]) -> EmulatedHost | None:
    """Describe how to boot an emulated KVM host of an architecture under QEMU.

    Called by ``vmm nested --arch ARCH`` for every installed plugin; the plugin for
    that architecture answers with the QEMU binary, machine flags, Debian packages
    and kernel modules of the emulated host. A layer's ``wrapper=True``
    implementation may turn that host into a variant its ``vmm_nested_addoption``
    options ask for (for example one booted from its own firmware), or refuse the
    options with a ``ConfigError``.

    Stops at first non-None result.

    :param arch: The architecture name given to ``--arch``.
    :param options: The values of the options declared with ``vmm_nested_addoption``,
        by destination name (defaults when not given).
    """
