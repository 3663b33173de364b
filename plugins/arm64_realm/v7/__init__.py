"""The v7 realm UABI (linux-cca cca-host/v7, the emulated CCA host's kernel):
constants, structures, calls and the lifecycle (:class:`.lifecycle.V7`)."""
