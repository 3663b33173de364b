"""The x86 setup sequence against the model of KVM: ``--dry-run`` ioctls, hook order,
and the state the model ends up with. No /dev/kvm needed."""

from __future__ import annotations

from .conftest import run_vmm

BUILTIN_SEQUENCE = [
    "kvm: KVM_GET_API_VERSION",
    "kvm: KVM_CHECK_EXTENSION(cap=66)",
    "kvm: KVM_CREATE_VM(type=0x0)",
    "vm: KVM_SET_TSS_ADDR(addr=0xfffbd000)",
    "vm: KVM_SET_IDENTITY_MAP_ADDR(addr=0xfffbc000)",
    "vm: KVM_CREATE_IRQCHIP",
    "vm: KVM_CREATE_PIT2(flags=0x1)",
    "kvm: KVM_GET_SUPPORTED_CPUID(nent=8)",
    "vm: KVM_SET_USER_MEMORY_REGION(slot=0 gpa=0x0 size=0x10000000)",
    "vm: KVM_CREATE_VCPU(id=0)",
    "kvm: KVM_GET_VCPU_MMAP_SIZE",
    "vcpu0: KVM_SET_CPUID2(nent=8 apic_id=0)",
    "vcpu0: KVM_SET_MSRS(nmsrs=11)",
    "vm: KVM_CREATE_VCPU(id=1)",
    "kvm: KVM_GET_VCPU_MMAP_SIZE",
    "vcpu1: KVM_SET_CPUID2(nent=8 apic_id=1)",
    "vcpu1: KVM_SET_MSRS(nmsrs=11)",
    "vcpu0: KVM_GET_SREGS",
    "vcpu0: KVM_GET_REGS",
    "vcpu0: KVM_SET_SREGS(cr0=0x60000010 cr4=0x0 efer=0x0 cs=0x1000)",
    "vcpu0: KVM_SET_REGS(rip=0x0 rsp=0x8000 rsi=0x0)",
]


def _sequence(stdout: bytes) -> list[str]:
    lines = stdout.decode().splitlines()
    assert lines[0] == "KVM call sequence (model backend):"
    return [line.split(". ", 1)[1] for line in lines[1:] if ". " in line]


def test_dry_run_of_the_builtin_guest_issues_the_kernel_sequence():
    result = run_vmm("--arch", "x86", "--dry-run", "-c", "2", "--block", "virtio")
    assert result.returncode == 0, result.stderr
    assert _sequence(result.stdout) == BUILTIN_SEQUENCE


def test_dry_run_of_a_bzimage_starts_in_long_mode_with_boot_params(tmp_path):
    from vmm.core.testing.images import x86_bzimage

    kernel = tmp_path / "bzImage"
    kernel.write_bytes(x86_bzimage())
    result = run_vmm("--arch", "x86", "--dry-run", "-k", str(kernel), "--block", "virtio",
                     "-m", "64")
    assert result.returncode == 0, result.stderr
    sequence = _sequence(result.stdout)
    assert sequence[-2] == "vcpu0: KVM_SET_SREGS(cr0=0x80000011 cr4=0x20 efer=0x500 cs=0x10)"
    assert sequence[-1] == "vcpu0: KVM_SET_REGS(rip=0x100200 rsp=0x8ff0 rsi=0x7000)"


def test_hooks_run_in_kvmtool_order(vmm_vm):
    vm = vmm_vm("x86", blocked=["virtio"], cpus=2, mem_mib=64).build()
    assert vm.hooks_called("vmm_core_init") == ["core", "x86", "core"]
    assert vm.hooks_called("vmm_memory_layout") == ["x86"]
    assert vm.hooks_called("vmm_load_kernel") == ["x86"]
    assert vm.hooks_called("vmm_vcpu_init") == ["x86", "x86"]
    assert vm.hooks_called("vmm_dev_init") == ["x86"]
    assert vm.hooks_called("vmm_firmware_init") == ["x86"]
    assert vm.hooks_called("vmm_vcpu_boot_registers") == ["x86", "x86"]
    assert vm.hooks_called("vmm_vcpu_finalize") == ["x86", "x86"]
    order = [name for name, _ in vm.hook_calls]
    stages = ["vmm_core_init", "vmm_base_init", "vmm_dev_init", "vmm_firmware_init",
              "vmm_last_init"]  # the stages with implementations when virtio is blocked
    assert [order.index(stage) for stage in stages] == sorted(order.index(stage) for stage in stages)
    # the kernel is loaded inside the core stage, before the vCPUs exist
    assert order.index("vmm_load_kernel") < order.index("vmm_base_init")
    assert order.index("vmm_vcpu_init") < order.index("vmm_dev_init")


def test_model_state_after_build(vmm_vm):
    vm = vmm_vm("x86", blocked=["virtio"], cpus=2, mem_mib=64).build()
    state = vm.backend.system.vms[-1]
    assert state.irqchip
    assert state.arch["pit"] == 1
    assert state.arch["tss_addr"] == 0xFFFBD000
    assert state.arch["identity_map_addr"] == 0xFFFBC000
    for vcpu_id, vcpu in state.vcpus.items():
        leaf1 = next(entry for entry in vcpu.arch["cpuid"] if entry[0] == 1)
        assert leaf1[4] >> 24 == vcpu_id  # APIC id in CPUID.1:EBX[31:24]
        assert leaf1[5] & (1 << 31)  # hypervisor bit
        assert vcpu.arch["msrs"][0x1A0] == 1  # fast strings
    assert vm.vm.irqchip is not None
