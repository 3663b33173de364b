"""vmm-lkvm's reading of ``lkvm run`` (every form kvmtool's parser takes) and the
``vmm run`` words it becomes; fast, no VM."""

from __future__ import annotations

import pytest

from vmm.core.cli.run import RunOptions
from vmm.core.lkvm.dialect import OPTIONS, SAME, Missing, Rename
from vmm.core.lkvm.translate import LkvmUsageError, mem_mib, parse_run_words, vmm_words


@pytest.fixture(scope="module")
def arm64_flags() -> set[str]:
    """Every flag ``vmm run --arch arm64`` declares (core and plugins)."""
    options = RunOptions(["run", "--arch", "arm64"]).options
    return {flag for option in options for flag in option.flags}


def translate(words: list[str], flags: set[str]) -> list[str]:
    return vmm_words(parse_run_words(words), flags)


#: kvm-unit-tests' command line for a test (scripts/arch-run.bash, arm/run,
#: scripts/vmm.bash), with every optional part present.
KUT_LINE = ["--kernel", "arm/selftest.flat", "--cpus", "2", "--params", "setup smp=2 mem=256",
            "--nodefaults", "--network", "mode=none", "--loglevel=warning", "--mem", "256",
            "--pmu", "--irqchip=gicv3", "--initrd", "/tmp/tmp.env"]


def test_kvm_unit_tests_line(arm64_flags):
    assert translate(KUT_LINE, arm64_flags) == [
        "--kernel=arm/selftest.flat", "--cpus=2", "--params=setup smp=2 mem=256",
        "--nodefaults", "--network=mode=none", "--loglevel=warning", "--mem=256", "--pmu",
        "--irqchip=gicv3", "--initrd=/tmp/tmp.env"]


def test_its_spelling_is_passed_on_for_vmm_to_judge(arm64_flags):
    assert translate(["--irqchip=gicv3-its"], arm64_flags) == ["--irqchip=gicv3-its"]
    assert translate(["--irqchip", "gicv3-its"], arm64_flags) == ["--irqchip=gicv3-its"]


@pytest.mark.parametrize("words, expected", [
    (["--cpus", "4"], ["--cpus=4"]),
    (["--cpus=4"], ["--cpus=4"]),
    (["-c", "4"], ["--cpus=4"]),
    (["-c4"], ["--cpus=4"]),
    (["--cp", "4"], ["--cpus=4"]),                 # a unique prefix
    (["-m", "512"], ["--mem=512"]),
    (["-m2G"], ["--mem=2048"]),
    (["--mem=1048576k"], ["--mem=1024"]),
    (["-k", "Image", "-i", "initrd", "-p", "console=ttyS0 -x"],
     ["--kernel=Image", "--initrd=initrd", "--params=console=ttyS0 -x"]),
    (["-p", "-leading-dash"], ["--params=-leading-dash"]),
    (["Image"], ["--kernel=Image"]),                # the first plain word is the kernel
    (["--rng", "Image", "-c", "2"], ["--rng", "--kernel=Image", "--cpus=2"]),
    (["--", "Image"], ["--kernel=Image"]),
    (["--no-rng"], []),                             # a negated flag stays off
    (["-d", "disk.img,ro", "--disk=b.img"], ["--disk=disk.img,ro", "--disk=b.img"]),
    (["-n", "mode=none"], ["--network=mode=none"]),
    (["-n"], ["--network=mode=user"]),              # kvmtool's default card
    (["-n", "--rng"], ["--network=mode=user", "--rng"]),
    (["--debug"], ["--loglevel=debug"]),
    (["--force-pci"], ["--virtio-transport=pci"]),
    (["--dump-dtb", "out.dtb"], ["--dtb-out=out.dtb"]),
    (["-F", "flash.img", "-f", "fw.bin"], ["--flash=flash.img", "--firmware=fw.bin"]),
    (["--console", "virtio", "--hugetlbfs=/mnt/huge", "--virtio-transport", "mmio"],
     ["--console=virtio", "--hugetlbfs=/mnt/huge", "--virtio-transport=mmio"]),
    (["--disable-mte", "--no-pvtime"], ["--disable-mte", "--no-pvtime"]),
])
def test_option_forms(arm64_flags, words, expected):
    assert translate(words, arm64_flags) == expected


@pytest.mark.parametrize("words, message", [
    (["--frobnicate"], "unknown option `frobnicate'"),
    (["-z"], "unknown switch `z'"),
    (["--d"], "Ambiguous option"),                  # disk, dev, debug...
    (["--cpus"], "requires a value"),
    (["--rng=yes"], "takes no value"),
    (["Image", "other"], "Cannot handle parameter: other"),
    (["-k", "Image", "other"], "Cannot handle parameter: other"),
    (["-m", "12X"], "Invalid memory specifier"),
    (["-m", "0"], "Invalid RAM size"),
    (["-m", "1000k"], "whole MiB"),
    (["--9p", "/tmp,tag"], "option `9p' is not supported by vmm: vmm has no virtio-9p"),
    (["--name", "guest"], "option `name' is not supported by vmm"),
    (["--sandbox", "script.sh"], "option `sandbox' is not supported by vmm"),
    (["--aarch32"], "AArch64 guests only"),
    (["--vidmode", "1"], "not supported by vmm"),
])
def test_refusals_name_the_option(arm64_flags, words, message):
    with pytest.raises(LkvmUsageError, match=message.replace("(", r"\(")):
        translate(words, arm64_flags)


def test_an_arch_option_vmm_lacks_here_is_refused():
    x86_flags = {"--kernel", "--cpus"}
    with pytest.raises(LkvmUsageError, match="`pmu' is not supported by vmm on this machine"):
        translate(["--pmu"], x86_flags)


def test_riscv_disable_flags_pass_when_vmm_has_them():
    assert translate(["--disable-zbb"], {"--disable-zbb"}) == ["--disable-zbb"]
    with pytest.raises(LkvmUsageError, match="disable-zzz"):
        translate(["--disable-zzz"], {"--disable-zbb"})


@pytest.mark.parametrize("text, mib", [("256", "256"), ("1G", "1024"), ("1g", "1024"),
                                        ("524288K", "512"), ("2097152b", "2")])
def test_memory_sizes(text, mib):
    assert mem_mib(text) == mib


def test_every_passed_option_exists_in_vmm(arm64_flags):
    """The options marked as vmm's own are declared by vmm run (arm64 has them all)."""
    riscv_flags = {flag for option in RunOptions(["run", "--arch", "riscv"]).options
                   for flag in option.flags}
    for option in OPTIONS:
        if isinstance(option.vmm, Missing) or option.vmm.words:
            continue
        flag = option.vmm.flag or f"--{option.long}"
        assert flag in arm64_flags | riscv_flags, option.long
    assert SAME == Rename()
