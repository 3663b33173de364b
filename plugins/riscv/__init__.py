"""The riscv architecture plugin."""

from .emulated_host import vmm_emulated_host  # noqa: F401

VMM_ARCH = "riscv"
