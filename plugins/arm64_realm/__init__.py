"""Arm CCA realms (the "[RFC kvmtool 00/31] arm64: Support for Arm CCA" series, RFC-v1
UABI), layered onto the arm64 plugin."""

from .cli import vmm_add_commands

VMM_LAYER_FOR = "arm64"
