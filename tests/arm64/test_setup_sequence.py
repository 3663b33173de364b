"""The KVM call sequence the arm64 plugin issues, against the model, for each host
profile and option; boot registers; exits."""

from __future__ import annotations

import errno

import pytest

from vmm.core.errors import ConfigError, GuestError
from vmm.plugins.arm64 import layout as mm
from vmm.plugins.arm64 import uapi as u
from vmm.plugins.arm64.model import mpidr_of
from vmm.plugins.arm64.model_host import ModelHost
from vmm.plugins.arm64.registers import BOOT_PSTATE, REGISTER_IDS
from vmm.plugins.arm64.state import arm64_state


def calls(vm, name: str) -> list[str]:
    return [line for line in vm.ioctl_log() if f": {name}(" in line or line.endswith(f": {name}")]


def test_default_vm_sequence(arm64_vm):
    vm = arm64_vm(cpus=2).build()
    names = vm.ioctl_names()
    order = ["KVM_CREATE_VM", "KVM_CREATE_DEVICE", "KVM_SET_USER_MEMORY_REGION", "KVM_CREATE_VCPU",
             "KVM_ARM_PREFERRED_TARGET", "KVM_ARM_VCPU_INIT",
             "KVM_SET_ONE_REG", "KVM_ARM_VCPU_FINALIZE"]
    positions = [names.index(name) for name in order]
    assert positions == sorted(positions)
    assert calls(vm, "KVM_CREATE_VM") == ["kvm: KVM_CREATE_VM(type=0x20)"]
    assert calls(vm, "KVM_CREATE_DEVICE") == [f"vm: KVM_CREATE_DEVICE(type={u.KVM_DEV_TYPE_ARM_VGIC_V3})"]
    features = (1 << u.KVM_ARM_VCPU_PSCI_0_2 | 1 << u.KVM_ARM_VCPU_SVE
                | 1 << u.KVM_ARM_VCPU_PTRAUTH_ADDRESS | 1 << u.KVM_ARM_VCPU_PTRAUTH_GENERIC)
    assert calls(vm, "KVM_ARM_VCPU_INIT") == [
        f"vcpu0: KVM_ARM_VCPU_INIT(target=5 features={features:#x})",
        f"vcpu1: KVM_ARM_VCPU_INIT(target=5 features={features | 1:#x})",  # POWER_OFF
    ]
    assert calls(vm, "KVM_ARM_VCPU_FINALIZE") == [
        "vcpu0: KVM_ARM_VCPU_FINALIZE(feature=4)", "vcpu1: KVM_ARM_VCPU_FINALIZE(feature=4)"]
    # No PMU unless --pmu (as kvmtool); pvtime per vCPU.
    log = vm.ioctl_log()
    assert not any(line.startswith("vcpu") and "group=0 attr" in line for line in log)
    assert "vcpu1: KVM_SET_DEVICE_ATTR(group=2 attr=0 ipa=0x1020040)" in log
    state = arm64_state(vm.vm)
    assert (state.ipa_bits, state.irqchip, state.sve_enabled, state.pvtime_enabled) == (32, "gicv3", True, True)
    assert not state.mte_enabled


def test_vcpu0_boot_registers_follow_the_boot_protocol(arm64_vm):
    vm = arm64_vm(cpus=2).build()
    vcpus = vm.backend.system.vms[-1].vcpus
    regs0 = vcpus[0].regs
    state = arm64_state(vm.vm)
    assert regs0[REGISTER_IDS["pc"]] == vm.vm.kernel.entry == mm.RAM_START
    assert regs0[REGISTER_IDS["x0"]] == state.dtb_address == mm.dtb_address(mm.RAM_START, 64 << 20)
    assert all(regs0[REGISTER_IDS[f"x{n}"]] == 0 for n in (1, 2, 3))
    assert regs0[REGISTER_IDS["pstate"]] == BOOT_PSTATE == 0x3C5
    assert vcpus[1].regs[REGISTER_IDS["pstate"]] == BOOT_PSTATE
    assert REGISTER_IDS["pc"] not in vcpus[1].regs
    assert state.mpidrs == [mpidr_of(0), mpidr_of(1)]


def test_boot_register_order_lets_a_layer_drop_pstate(arm64_vm):
    vm = arm64_vm(cpus=2).build()
    registers = vm.vm.hook.vmm_vcpu_boot_registers(vm=vm.vm, vcpu=vm.vm.vcpus[0])
    assert list(registers) == ["pstate", "x1", "x2", "x3", "x0", "pc"]
    secondary = vm.vm.hook.vmm_vcpu_boot_registers(vm=vm.vm, vcpu=vm.vm.vcpus[1])
    assert secondary == {"pstate": registers["pstate"], "x1": 0, "x2": 0, "x3": 0}


def test_disable_sve_skips_the_feature_and_finalize(arm64_vm):
    vm = arm64_vm(options={"disable_sve": True}).build()
    assert "KVM_ARM_VCPU_FINALIZE" not in vm.ioctl_names()
    (init,) = calls(vm, "KVM_ARM_VCPU_INIT")
    features = int(init.split("features=")[1].rstrip(")"), 16)
    assert not features >> u.KVM_ARM_VCPU_SVE & 1


def test_sve_is_asked_on_the_vm_fd(arm64_vm):
    vm = arm64_vm(host=ModelHost(sve=False)).build()
    assert f"vm: KVM_CHECK_EXTENSION(cap={u.KVM_CAP_ARM_SVE})" in vm.ioctl_log()
    assert "KVM_ARM_VCPU_FINALIZE" not in vm.ioctl_names()


def test_no_pvtime_option_and_host_without_steal_time(arm64_vm):
    for vm in (arm64_vm(options={"no_pvtime": True}).build(),
               arm64_vm(host=ModelHost(steal_time=False)).build()):
        assert not any("group=2" in line for line in vm.ioctl_log())
        assert not any("gpa=0x1020000" in line for line in vm.ioctl_log())


def test_mte_is_enabled_when_the_host_has_it(arm64_vm):
    vm = arm64_vm(host=ModelHost(mte=True)).build()
    assert f"vm: KVM_ENABLE_CAP(cap={u.KVM_CAP_ARM_MTE} args=[0x0, 0x0])" in vm.ioctl_log()
    assert arm64_state(vm.vm).mte_enabled


def test_mte_off_with_disable_mte(arm64_vm):
    vm = arm64_vm(host=ModelHost(mte=True), options={"disable_mte": True}).build()
    assert "KVM_ENABLE_CAP" not in vm.ioctl_names()


def test_mte_off_with_flash_and_a_compat_message(arm64_vm, tmp_path):
    flash = tmp_path / "flash.img"
    flash.write_bytes(b"\xff" * (1 << 20))
    vm = arm64_vm(host=ModelHost(mte=True), options={"flash": str(flash)}).build()
    assert "KVM_ENABLE_CAP" not in vm.ioctl_names()
    assert vm.vm.compat_messages == ["MTE is incompatible with CFI flash support, disabling"]


def test_pmu_only_with_the_pmu_option(arm64_vm):
    vm = arm64_vm(cpus=2, options={"pmu": True}).build()
    (init, _) = calls(vm, "KVM_ARM_VCPU_INIT")
    assert int(init.split("features=")[1].rstrip(")"), 16) >> u.KVM_ARM_VCPU_PMU_V3 & 1
    # CTRL_INIT after the vCPUs exist, each vCPU's PMU IRQ and init after it.
    log = vm.ioctl_log()
    ctrl_init = log.index("device: KVM_SET_DEVICE_ATTR(group=4 attr=0x0)")
    assert log.index("vcpu0: KVM_SET_DEVICE_ATTR(group=0 attr=0 irq=23)") > ctrl_init
    assert log.index("vcpu1: KVM_SET_DEVICE_ATTR(group=0 attr=1)") > ctrl_init
    assert arm64_state(vm.vm).pmu_enabled


def test_pmu_on_a_host_without_it_is_a_config_error(arm64_vm):
    assert not arm64_state(arm64_vm(host=ModelHost(pmu=False)).build().vm).pmu_enabled
    with pytest.raises(ConfigError, match="--pmu: KVM on this host has no PMUv3"):
        arm64_vm(host=ModelHost(pmu=False), options={"pmu": True}).build()


def test_gicv2_fallback_in_auto_mode(arm64_vm):
    vm = arm64_vm(host=ModelHost(gicv3=False, gicv2=True)).build()
    names = calls(vm, "KVM_CREATE_DEVICE")
    assert names == [
        f"vm: KVM_CREATE_DEVICE(type={u.KVM_DEV_TYPE_ARM_VGIC_V3}) -> ENODEV",
        f"vm: KVM_CREATE_DEVICE(type={u.KVM_DEV_TYPE_ARM_VGIC_V2})",
    ]
    assert arm64_state(vm.vm).irqchip == "gicv2"


def test_chosen_irqchip_missing_on_the_host_is_a_config_error(arm64_vm):
    with pytest.raises(ConfigError, match="no in-kernel GICV3: use --irqchip gicv2"):
        arm64_vm(options={"irqchip": "gicv3"}, host=ModelHost(gicv3=False, gicv2=True)).build()


def test_ipa_size_follows_the_ram(arm64_vm):
    vm = arm64_vm(mem_mib=4096).build()  # RAM ends at 6 GiB: 33 bits
    assert calls(vm, "KVM_CREATE_VM") == ["kvm: KVM_CREATE_VM(type=0x21)"]


def test_memory_too_large_for_the_host(arm64_vm):
    with pytest.raises(ConfigError, match="memory too large for this host"):
        arm64_vm(mem_mib=4096, host=ModelHost(ipa=32)).build()


def test_kernels_without_the_ipa_cap_get_type_zero(arm64_vm):
    vm = arm64_vm(host=ModelHost(ipa=0)).build()
    assert calls(vm, "KVM_CREATE_VM") == ["kvm: KVM_CREATE_VM(type=0x0)"]


def test_psci_system_off_stops_the_vm_with_0(arm64_vm):
    vm = arm64_vm().build()
    vm.exit("system_event", type=u.KVM_SYSTEM_EVENT_SHUTDOWN)
    assert vm.vm.stopping.is_set() and vm.vm.exit_code == 0


def test_reset_also_ends_the_vm(arm64_vm):
    vm = arm64_vm().build()
    vm.exit("system_event", type=u.KVM_SYSTEM_EVENT_RESET)
    assert vm.vm.exit_code == 0 and vm.vm.error is None


def test_a_guest_crash_ends_the_vm_with_1_and_a_message(arm64_vm):
    vm = arm64_vm().build()
    vm.exit("system_event", type=u.KVM_SYSTEM_EVENT_CRASH)
    assert vm.vm.exit_code == 1
    assert isinstance(vm.vm.error, GuestError) and "crash" in str(vm.vm.error)


def test_unknown_exit_is_not_handled(arm64_vm):
    vm = arm64_vm().build()
    with pytest.raises(GuestError, match="unhandled KVM exit"):
        vm.exit("hlt")


def test_the_idle_model_guest_powers_off(arm64_vm):
    assert arm64_vm(cpus=2).build().run() == 0


def test_uart_output_and_interrupt(arm64_vm):
    vm = arm64_vm().build()
    vm.exit("mmio", addr=mm.UART_BASE + 1, size=1, is_write=True, data=b"\x02")  # IER: THRI
    vm.exit("mmio", addr=mm.UART_BASE, size=1, is_write=True, data=b"A")
    assert vm.console_output == b"A"
    assert any(line.startswith("vm: KVM_IRQ_LINE(irq=0x1000020 level=1)") for line in vm.ioctl_log())


def test_register_dump_is_readable(arm64_vm):
    vm = arm64_vm().build()
    dump = vm.vm.hook.vmm_register_dump(vcpu=vm.vm.vcpus[0])
    assert f"pc {mm.RAM_START:016x}" in dump
    assert "x0  " in dump and "x30" in dump and "pstate 00000000000003c5" in dump


def test_psci_method_is_hvc(arm64_vm):
    vm = arm64_vm()
    assert vm.vm.hook.vmm_psci_method(vm=vm.vm) == "hvc"


def test_irqchip_facade(arm64_vm):
    vm = arm64_vm().build()
    chip = vm.vm.irqchip
    assert chip.fdt_interrupt(40) == [0, 8, 4]
    chip.irqfd(40, 7)
    assert "vm: KVM_IRQFD(gsi=8)" in vm.ioctl_log()
    with pytest.raises(RuntimeError, match="before the vGIC is initialised"):
        chip.allocate()


def test_run_before_vcpu_init_is_enoexec():
    from vmm.core.errors import KvmError
    from vmm.core.kvm.fds import Kvm
    from vmm.core.model.backend import ModelBackend
    from vmm.plugins.arm64.model import Arm64Model

    kvm = Kvm(ModelBackend(Arm64Model()))
    vcpu = kvm.create_vm(0).create_vcpu(0)
    with pytest.raises(KvmError) as raised:
        vcpu.run()
    assert raised.value.errno == errno.ENOEXEC
