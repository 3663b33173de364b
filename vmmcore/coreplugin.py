"""The core's own hook implementations: the generic steps of building a VM.

Registered first by the plugin manager factory. ``tryfirst``/``trylast`` place the
core's steps around the plugins' steps inside a stage, as kvmtool orders them.

Every command line imports this module (to find the plugins' options), so the KVM
layer (cffi declarations, fds, vCPUs) is imported only by the hooks that use it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vmm import hookimpl

from .config import LOGLEVELS, Config
from .errors import ConfigError, ImageError, UnusableFileError
from .images import read_image, require_regular_file

if TYPE_CHECKING:
    from .vm import Vm

CONSOLES = ("serial", "virtio")


def _host_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _check_readable(path: str | None, what: str, option: str) -> None:
    if path is None:
        return

    def unusable(reason: str) -> UnusableFileError:
        return UnusableFileError(reason, what, path)

    try:
        mode = os.stat(path).st_mode  # stat, not open: a FIFO can't block here
    except FileNotFoundError:
        raise unusable(f"{what} {path!r} does not exist (check {option})") from None
    except OSError as error:
        raise unusable(f"can't use {what} {path!r}: {error.strerror} (check {option})") from None
    try:
        require_regular_file(mode, path, what)
    except ImageError as error:
        raise unusable(f"{error} (check {option})") from None
    if not os.access(path, os.R_OK):
        raise unusable(f"{what} {path!r} is not readable (check its permissions)")


@hookimpl
def vmm_validate_config(config: Config) -> None:
    """Check the generic options: memory, vCPUs, console, files (the architecture
    was checked when its plugins were loaded)."""
    if config.mem_mib <= 0:
        raise ConfigError(f"-m/--mem must be at least 1 MiB (got {config.mem_mib})")
    if not config.dry_run and config.mem_bytes > _host_memory_bytes():
        raise ConfigError(
            f"-m {config.mem_mib} MiB is more memory than this host has "
            f"({_host_memory_bytes() >> 20} MiB); ask for less"
        )
    if config.cpus <= 0:
        raise ConfigError(f"-c/--cpus must be at least 1 (got {config.cpus})")
    if config.loglevel not in LOGLEVELS:
        raise ConfigError(f"--loglevel must be one of {', '.join(LOGLEVELS)}")
    if config.console not in CONSOLES:
        raise ConfigError(f"--console must be one of {', '.join(CONSOLES)}")
    if "\0" in config.params:  # the guest reads a C string: it would end there
        raise ConfigError("-p/--params holds a NUL character; a kernel command line can't")
    if config.firmware and config.kernel:
        raise ConfigError("give either --firmware or --kernel, not both")
    _check_readable(config.kernel, "kernel", "-k/--kernel")
    _check_readable(config.initrd, "initrd", "-i/--initrd")
    _check_readable(config.firmware, "firmware", "--firmware")
    if config.initrd and config.firmware:
        raise ConfigError("--initrd can't be used with --firmware (the firmware loads it)")
    if config.hugetlbfs is not None:
        from .hugetlbfs import check_ram_fits

        check_ram_fits(config.hugetlbfs, config.mem_bytes)


@hookimpl(tryfirst=True)
def vmm_core_init(vm: Vm) -> None:
    """Open KVM, describe memory, compute the VM type and create the VM."""
    from .kvm.fds import Kvm

    vm.kvm = Kvm(vm.backend)
    _check_vcpu_count(vm)
    vm.layout = vm.hook.vmm_memory_layout(config=vm.config)
    if vm.layout is None:
        raise ConfigError(f"no plugin describes the memory of a {vm.config.arch} VM")
    from .layout import reserve_windows

    reserve_windows(vm.layout, vm.mmio, vm.pio)
    vm_type = vm.hook.vmm_vm_type(vm=vm) or 0
    vm.vmfd = vm.kvm.create_vm(vm_type)


def _check_vcpu_count(vm: Vm) -> None:
    from .kvm import ioctls as k

    assert vm.kvm is not None
    limit = vm.kvm.check_extension(k.KVM_CAP_MAX_VCPUS) or vm.kvm.check_extension(
        k.KVM_CAP_NR_VCPUS
    )
    if limit and vm.config.cpus > limit:
        raise ConfigError(
            f"-c {vm.config.cpus}: KVM on this host allows at most {limit} vCPUs"
        )


@hookimpl(specname="vmm_core_init", trylast=True)
def map_ram_and_load_images(vm: Vm) -> None:
    """Map guest RAM, register it with KVM (as private memory when a plugin asks),
    then load kernel/firmware and initrd."""
    assert vm.layout is not None and vm.vmfd is not None
    private = bool(vm.hook.vmm_private_memory(vm=vm))
    for bank in vm.layout.banks:
        region = vm.memory.add(bank.start, bank.size, hugetlbfs=vm.config.hugetlbfs)
        vm.hook.vmm_memory_allocated(vm=vm, region=region)
        if private:
            from .private_memory import back_with_guest_memfd

            back_with_guest_memfd(vm.vmfd, region)
        else:
            vm.vmfd.set_user_memory_region(region.slot, bank.start, bank.size, region.host_addr)
    config = vm.config
    ram = vm.memory.size
    if config.firmware:
        data = read_image(config.firmware, "firmware", ram)
        vm.kernel = vm.hook.vmm_load_firmware(vm=vm, data=data, path=config.firmware)
        if vm.kernel is None:
            raise ImageError(f"the {config.arch} plugin can't load firmware {config.firmware!r}")
        vm.hook.vmm_kernel_loaded(vm=vm, image=vm.kernel)
        return
    kernel_path = config.kernel or default_guest_path(vm)
    data = read_image(kernel_path, "kernel", ram)
    vm.kernel = vm.hook.vmm_load_kernel(vm=vm, data=data, path=kernel_path)
    if vm.kernel is None:
        raise ImageError(f"no plugin recognises the kernel image {kernel_path!r}")
    vm.hook.vmm_kernel_loaded(vm=vm, image=vm.kernel)
    if config.initrd:
        data = read_image(config.initrd, "initrd", ram)
        vm.initrd = vm.hook.vmm_load_initrd(vm=vm, data=data, path=config.initrd)
        if vm.initrd is None:
            raise ImageError(f"the {config.arch} plugin can't load an initrd")
        vm.hook.vmm_image_loaded(vm=vm, image=vm.initrd)


def default_guest_path(vm: Vm) -> str:
    """The built-in guest the arch plugin ships, used when no kernel is given."""
    path = vm.hook.vmm_builtin_guest(config=vm.config)
    if not path:
        raise ConfigError(
            f"no kernel given and the {vm.config.arch} plugin has no built-in guest; "
            "pass -k/--kernel"
        )
    return str(path)


@hookimpl(tryfirst=True)
def vmm_base_init(vm: Vm) -> None:
    """Create the vCPUs in ascending id order and let the arch initialise each."""
    from .vcpu import Vcpu

    assert vm.vmfd is not None
    for vcpu_id in range(vm.config.cpus):
        vcpu = Vcpu(vm, vcpu_id, vm.vmfd.create_vcpu(vcpu_id))
        vm.vcpus.append(vcpu)
        vm.hook.vmm_vcpu_init(vm=vm, vcpu=vcpu)


@hookimpl(tryfirst=True)
def vmm_last_init(vm: Vm) -> None:
    """Reset every vCPU in ascending id (MPIDR) order, then finalise it."""
    for vcpu in vm.vcpus:
        registers = vm.hook.vmm_vcpu_boot_registers(vm=vm, vcpu=vcpu) or {}
        for name, value in registers.items():
            vcpu.set_reg(name, value)
        vm.hook.vmm_vcpu_finalize(vm=vm, vcpu=vcpu)
