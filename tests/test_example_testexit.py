"""The second example plugin, examples/vmm-testexit, installed by pip in a fresh
virtual environment: its own tests pass there, on the model of KVM for x86, arm64
and riscv and on this machine's /dev/kvm for x86."""

from __future__ import annotations

from pathlib import Path

from authoring.venvs import example_venv_fixture

from vmm.core.testing import kvm_usable, skip_or_fail

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "vmm-testexit"


#: A fresh virtual environment with vmm-testexit installed from a copy.
venv_with_testexit = example_venv_fixture(EXAMPLE)


def test_installed_plugin_is_listed_with_its_hooks(venv_with_testexit):
    hooks = venv_with_testexit.listed_hooks("testexit (vmm_testexit)", "arm64")
    assert {"vmm_addoption", "vmm_dev_init", "vmm_device_tree"} <= set(hooks)


def test_example_own_tests_pass_on_the_models_and_real_kvm(venv_with_testexit):
    """Every test of the example passes; its /dev/kvm tests ran unless this host has
    no usable /dev/kvm (then this test skips, or fails under VMM_REQUIRE_KVM=1)."""
    result = venv_with_testexit.run("python", "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                                    "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    if skipped:
        reason = kvm_usable()
        assert reason and all("kvm" in line.lower() for line in skipped), skipped
        skip_or_fail(f"the example's /dev/kvm tests were skipped: {reason}")
