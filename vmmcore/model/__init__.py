"""A Python model of the KVM UAPI: the ``model`` backend behind the ioctl seam.

It decodes request numbers and argument bytes on its own (with ``struct`` formats,
never the encoder's cffi tables, so an encoding bug shows up as the kernel's ENOTTY
or EINVAL), enforces the kernel's ordering and argument rules, and answers with the
kernel's errnos. The generic part lives here; each arch plugin supplies an
:class:`~vmm.core.model.base.ArchModel` through ``vmm_kvm_model``.
"""
