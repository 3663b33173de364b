"""SBI calls KVM forwards to user space, and system events."""

from __future__ import annotations

import pytest

from vmm.core.errors import GuestError
from vmm.core.kvm import ioctls as k
from vmm.plugins.riscv import sbi

RAM_START = 0x8000_0000


def _sbi_ret(vm) -> tuple[int, int]:
    ret = vm.vm.vcpus[0].fd.kvm_run.riscv_sbi.ret
    return ret[0], ret[1]


def _signed(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


def test_experimental_console_putchar(riscv_vm):
    vm = riscv_vm().build()
    for char in b"ok\n":
        vm.exit("riscv_sbi", extension_id=sbi.SBI_EXT_VMM_CONSOLE,
                function_id=sbi.SBI_VMM_CONSOLE_PUTCHAR, args=[char])
    assert vm.console_output == b"ok\n"
    assert _sbi_ret(vm) == (0, 0)
    assert not vm.stopped


def test_legacy_putchar_and_getchar(riscv_vm):
    vm = riscv_vm().build()
    vm.exit("riscv_sbi", extension_id=sbi.SBI_EXT_0_1_CONSOLE_PUTCHAR, function_id=0,
            args=[0x100 + ord("x")])
    assert vm.console_output == b"x"
    vm.exit("riscv_sbi", extension_id=sbi.SBI_EXT_0_1_CONSOLE_GETCHAR, function_id=0)
    assert _signed(_sbi_ret(vm)[0]) == -1


def test_debug_console_write_reads_guest_memory(riscv_vm):
    vm = riscv_vm().build()
    vm.vm.memory.write(RAM_START + 0x1000, b"hello from DBCN")
    vm.exit("riscv_sbi", extension_id=sbi.SBI_EXT_DBCN, function_id=sbi.SBI_DBCN_WRITE,
            args=[15, RAM_START + 0x1000, 0])
    assert vm.console_output == b"hello from DBCN"
    assert _sbi_ret(vm) == (0, 15)
    vm.exit("riscv_sbi", extension_id=sbi.SBI_EXT_DBCN, function_id=sbi.SBI_DBCN_WRITE_BYTE,
            args=[ord("!")])
    assert vm.console_output.endswith(b"!")


@pytest.mark.parametrize("address", [0x1000, RAM_START + (256 << 20) - 4, 1 << 64])
def test_debug_console_write_outside_ram_is_refused(riscv_vm, address):
    vm = riscv_vm().build()
    vm.exit("riscv_sbi", extension_id=sbi.SBI_EXT_DBCN, function_id=sbi.SBI_DBCN_WRITE,
            args=[16, address & (2**64 - 1), address >> 64])
    assert _signed(_sbi_ret(vm)[0]) == sbi.SBI_ERR_INVALID_PARAM
    assert vm.console_output == b""
    assert not vm.stopped


def test_unknown_call_is_not_supported(riscv_vm):
    vm = riscv_vm().build()
    vm.exit("riscv_sbi", extension_id=0x0900_0000, function_id=3)
    assert _signed(_sbi_ret(vm)[0]) == sbi.SBI_ERR_NOT_SUPPORTED
    assert not vm.stopped


@pytest.mark.parametrize("reset_type", [0, 1, 2])
def test_srst_stops_the_vm(riscv_vm, reset_type):
    vm = riscv_vm().build()
    vm.exit("riscv_sbi", extension_id=sbi.SBI_EXT_SRST, function_id=sbi.SBI_SRST_RESET,
            args=[reset_type, 0])
    assert vm.stopped and vm.exit_code == 0


def test_srst_bad_type_is_refused(riscv_vm):
    vm = riscv_vm().build()
    vm.exit("riscv_sbi", extension_id=sbi.SBI_EXT_SRST, function_id=sbi.SBI_SRST_RESET,
            args=[7, 0])
    assert _signed(_sbi_ret(vm)[0]) == sbi.SBI_ERR_INVALID_PARAM
    assert not vm.stopped


@pytest.mark.parametrize("event", [k.KVM_SYSTEM_EVENT_SHUTDOWN, k.KVM_SYSTEM_EVENT_RESET])
def test_system_event_stops_the_vm(riscv_vm, event):
    vm = riscv_vm().build()
    vm.exit("system_event", type=event)
    assert vm.stopped and vm.exit_code == 0


def test_crash_event_stops_with_an_error(riscv_vm):
    vm = riscv_vm().build()
    vm.exit("system_event", type=k.KVM_SYSTEM_EVENT_CRASH)
    assert vm.stopped and vm.exit_code == 1
    assert isinstance(vm.vm.error, GuestError)


def test_putchar_then_shutdown_through_the_vcpu_threads(riscv_vm):
    vm = riscv_vm().build()
    for char in b"hi":
        vm.backend.queue_exit(0, "riscv_sbi", extension_id=sbi.SBI_EXT_VMM_CONSOLE,
                              function_id=0, args=[char])
    assert vm.run() == 0  # the model's idle exit is an SRST shutdown
    assert vm.console_output == b"hi"


def test_unhandled_exit_is_reported(riscv_vm):
    vm = riscv_vm().build()
    with pytest.raises(GuestError, match="unhandled KVM exit"):
        vm.exit("hlt")


def test_seed_csr_gives_16_bits_of_entropy(riscv_vm):
    from vmm.plugins.riscv.csr import CSR_SEED

    vm = riscv_vm().build()
    values = set()
    for _ in range(4):
        vm.exit("riscv_csr", csr_num=CSR_SEED, new_value=0, write_mask=0)
        value = vm.vm.vcpus[0].fd.kvm_run.riscv_csr.ret_value
        assert value >> 30 == 0b10 and value & 0x3FFF_0000 == 0
        values.add(value & 0xFFFF)
    assert len(values) > 1
    assert not vm.stopped


def test_other_forwarded_csrs_are_unhandled(riscv_vm):
    vm = riscv_vm().build()
    with pytest.raises(GuestError, match="unhandled KVM exit KVM_EXIT_RISCV_CSR"):
        vm.exit("riscv_csr", csr_num=0x999)
