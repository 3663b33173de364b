"""x86 exits and devices, driven with synthetic exits through the model of KVM."""

from __future__ import annotations

import pytest

from vmm.core.errors import GuestError


@pytest.fixture
def x86(vmm_vm):
    return vmm_vm("x86", blocked=["virtio"], mem_mib=64).build()


def test_serial_output_reaches_the_console(x86):
    for byte in b"ok\n":
        x86.pio_write(0x3F8, byte)
    assert x86.console_output == b"ok\n"
    assert x86.pio_read(0x3FD) & 0x60 == 0x60  # transmitter empty


def test_serial_interrupt_goes_through_the_in_kernel_irqchip(x86):
    x86.pio_write(0x3F9, 0x02)  # IER: transmitter empty
    assert "vm: KVM_IRQ_LINE(irq=0x4 level=1)" in x86.ioctl_log()
    x86.pio_read(0x3FA)  # IIR acknowledges
    assert x86.ioctl_log()[-1] == "vm: KVM_IRQ_LINE(irq=0x4 level=0)"


def test_unclaimed_port_reads_all_ones_and_writes_are_ignored(x86):
    assert x86.pio_read(0x2F8) == 0xFF
    assert x86.pio_read(0x1234, size=2) == 0xFFFF
    x86.pio_write(0x80, 0x12)
    assert not x86.stopped


def test_i8042_reset_ends_the_vm_with_status_0(x86):
    assert x86.pio_read(0x64) & 0x01 == 0  # nothing to read
    x86.pio_write(0x64, 0xFE)
    assert x86.stopped and x86.exit_code == 0


def test_i8042_output_port_reset_bit_ends_the_vm(x86):
    x86.pio_write(0x64, 0xAA)  # self test
    assert x86.pio_read(0x64) & 0x01
    assert x86.pio_read(0x60) == 0x55
    x86.pio_write(0x64, 0xD1)
    x86.pio_write(0x60, 0x02)  # reset line low
    assert x86.stopped and x86.exit_code == 0


@pytest.mark.parametrize("exit_kind, reason", [
    ("shutdown", "vCPU 0 triple-faulted at rip 0x0"),
    ("hlt", "vCPU 0 halted with interrupts disabled")])  # the boot registers leave IF clear
def test_a_guest_stuck_after_writing_output_stopped_on_purpose(x86, exit_kind, reason):
    x86.pio_write(0x3F8, ord("!"))
    x86.exit(exit_kind)
    assert x86.stopped and x86.exit_code == 0 and x86.vm.error is None


@pytest.mark.parametrize("exit_kind, reason", [
    ("shutdown", "vCPU 0 triple-faulted at rip 0x0"),
    ("hlt", "vCPU 0 halted with interrupts disabled")])
def test_a_guest_stuck_before_any_output_is_a_one_line_error(x86, exit_kind, reason):
    """Before: a triple fault at entry exited 0, as if the guest had reset on purpose."""
    x86.exit(exit_kind)
    assert x86.stopped and x86.exit_code == 1
    assert str(x86.vm.error) == (
        f"the guest can never continue ({reason}) and wrote no output: it did not start; "
        "check that the kernel is one for this machine")


def test_emulation_failure_is_a_one_line_guest_error_with_the_rip(x86):
    with pytest.raises(GuestError) as info:
        x86.exit("internal_error", suberror=1)
    message = str(info.value)
    assert "\n" not in message
    assert "rip 0x0" in message and "vCPU 0" in message  # flat binary: ip 0


def test_register_dump_names_the_registers(x86):
    dump = x86.vm.hook.vmm_register_dump(vcpu=x86.vm.vcpus[0])
    assert "rip=" in dump and "cr0=" in dump and "cs: sel=1000" in dump


def test_i8042_replies_a_guest_never_reads_stay_bounded(x86):
    from vmm.plugins.x86.i8042 import REPLY_LIMIT

    keyboard = x86.vm.pio.find(0x64)[1]
    for _ in range(1000):
        keyboard.io_write(4, 1, 0x20)  # read command byte, never collected
    assert len(keyboard._replies) == REPLY_LIMIT


def test_i8042_answers_linux_probe_without_timeouts(x86):
    """The commands Linux's i8042 driver sends while probing each get their answer."""
    def command(value, parameter=None):
        x86.pio_write(0x64, value)
        if parameter is not None:
            x86.pio_write(0x60, parameter)

    assert x86.pio_read(0x64) & 0x10  # keyboard not inhibited: no "keylock" warning
    command(0x60, 0x44)  # CTR: keyboard interrupt off (no IRQ for the replies below)
    command(0xA7)  # AUX disable: the CTR shows it
    command(0x20)
    assert x86.pio_read(0x60) & 0x20
    command(0xA8)  # AUX enable
    command(0x20)
    assert not x86.pio_read(0x60) & 0x20
    command(0xD3, 0x5A)  # AUX loopback, AUX interrupt off: polled
    assert x86.pio_read(0x64) & 0x21 == 0x21  # output full, from the AUX port
    assert x86.pio_read(0x60) == 0x5A
    assert "irq=0xc" not in "\n".join(x86.ioctl_log())
    command(0x60, 0x46)  # AUX interrupt on: the loopback byte raises IRQ 12
    command(0xD3, 0xA5)
    assert x86.ioctl_log()[-1] == "vm: KVM_IRQ_LINE(irq=0xc level=1)"
    assert x86.pio_read(0x60) == 0xA5
    assert x86.ioctl_log()[-1] == "vm: KVM_IRQ_LINE(irq=0xc level=0)"
    assert not x86.pio_read(0x64) & 0x01
