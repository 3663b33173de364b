"""The emulated host's ``/init``: set up L1, run the inner vmm, report, power off."""

from __future__ import annotations

import shlex

#: Printed by L1 right before the inner vmm starts: what follows is relayed.
START_MARKER = "VMM-NESTED-START"
#: Printed by L1 with the inner vmm's exit status: ``VMM-NESTED-EXIT=<n>``.
EXIT_MARKER = "VMM-NESTED-EXIT="
#: The inner command (``vmm`` as a module, so no launcher script is needed).
INNER_VMM = ("python3", "-m", "vmm")
#: The inner command of ``vmm nested --shell``: L1's busybox shell.
INNER_SHELL = ("sh",)
MODULES_DIR = "/nested/modules"
#: The home directory of L1's processes (caches such as vmm's cffi modules live there).
HOME = "/root"
#: Printed during L1's boot (kept in --console-log) when /dev/kvm is there.
KVM_READY = "vmm nested: /dev/kvm is ready"

#: First thing L1's init does: carry on from a bind mount of the initramfs moved onto
#: ``/``. Programs that isolate themselves with pivot_root (passt, the user-mode
#: network stack of ``--network mode=user``) can't from the initramfs's own root
#: mount, which has no parent; the moved bind mount has one.
MOVE_ROOT = """if [ -z "$VMM_ROOT_MOVED" ] && /bin/busybox mkdir -p /run/vmm-root \\
    && /bin/busybox mount -o rbind / /run/vmm-root && cd /run/vmm-root \\
    && /bin/busybox mount -o move . /; then
    export VMM_ROOT_MOVED=1
    exec /bin/busybox chroot . /init
fi
"""


def init_script(args: list[str], modules: list[str],
                program: tuple[str, ...] = INNER_VMM, mounts: tuple[str, ...] = ()) -> str:
    """Write the busybox shell script L1 runs as init: ``program args...``.

    :param mounts: shell commands run once the modules are loaded (``--share``).
    """
    module_list = " ".join(modules)
    return f"""#!/bin/busybox sh
{MOVE_ROOT}/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox ln -s /proc/self/fd /dev/fd  # udev's links, which bash scripts use
/bin/busybox ln -s /proc/self/fd/0 /dev/stdin
/bin/busybox ln -s /proc/self/fd/1 /dev/stdout
/bin/busybox ln -s /proc/self/fd/2 /dev/stderr
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin HOME={HOME} LANG=C.UTF-8
for module in {module_list}; do
    insmod {MODULES_DIR}/$module.ko || echo "vmm nested: insmod $module failed"
done
{run_section(args, program, mounts)}poweroff -f
"""


def run_section(args: list[str], program: tuple[str, ...] = INNER_VMM,
                mounts: tuple[str, ...] = ()) -> str:
    """The part of L1's init that runs ``program args...`` between the markers.

    Every emulated host runs it once its system is up: Debian-kernel hosts from
    their init (:func:`init_script`), firmware-booted hosts from their payload's.
    """
    quoted = " ".join(shlex.quote(arg) for arg in (*program, *args))
    mount_lines = "".join(f"{command}\n" for command in mounts)
    return f"""{mount_lines}echo 1 > /proc/sys/kernel/printk
stty -onlcr 2>/dev/null
cd {HOME}
if [ -c /dev/kvm ]; then echo "{KVM_READY}"; else kvm=missing; fi
echo {START_MARKER}
[ -z "$kvm" ] || echo "vmm nested: warning: the emulated host has no /dev/kvm"
{quoted}
status=$?
sync
echo
echo "{EXIT_MARKER}$status"
"""
