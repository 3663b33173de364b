"""With --debug, a vCPU that stops on an error shows its registers through the hook."""

from __future__ import annotations

import pytest

from vmm import hookimpl
from vmm.core.errors import GuestError
from vmm.core.vm import run_vm


class Dumper:
    def __init__(self) -> None:
        self.asked: list[int] = []

    @hookimpl
    def vmm_register_dump(self, vcpu):
        self.asked.append(vcpu.id)
        return "pc=0x1000"


@pytest.mark.parametrize("debug", [True, False])
def test_failing_vcpu_dumps_registers_only_with_debug(make_vm, capsys, debug):
    dumper = Dumper()
    vm = make_vm(dumper, debug=debug)
    vm.backend.arch.idle_exit = lambda vcpu: ("hlt", {})
    with pytest.raises(GuestError):
        run_vm(vm)
    err = capsys.readouterr().err
    if debug:
        assert dumper.asked == [0] and "vCPU 0 registers:\npc=0x1000" in err
    else:
        assert dumper.asked == [] and "registers" not in err
