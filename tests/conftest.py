"""Shared test set-up. The fixtures come from vmm's own pytest plugin (vmm.core.testing)."""
