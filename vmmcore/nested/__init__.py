"""``vmm nested``: run this vmm inside an emulated KVM host (QEMU TCG).

The emulated host ("L1") is a Debian kernel with an initramfs holding busybox, a
Debian Python and this project's sources; the vmm inside it runs the guest ("L2")
on L1's real /dev/kvm. Everything comes from Debian packages (plus the target's
build of compiled Python dependencies from the package index) and is cached under
``$XDG_CACHE_HOME/vmm/nested``. The per-architecture facts come from the arch
plugins through the ``vmm_emulated_host`` hook as :class:`~vmm.core.nested.spec.EmulatedHost`.
"""
