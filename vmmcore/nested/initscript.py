"""The emulated host's ``/init``: set up L1, run the inner vmm, report, power off."""

from __future__ import annotations

import shlex

#: Printed by L1 right before the inner vmm starts: what follows is relayed.
START_MARKER = "VMM-NESTED-START"
#: Printed by L1 with the inner vmm's exit status: ``VMM-NESTED-EXIT=<n>``.
EXIT_MARKER = "VMM-NESTED-EXIT="
#: The inner command (``vmm`` as a module, so no launcher script is needed).
INNER_VMM = ("python3", "-m", "vmmcore.cli")
MODULES_DIR = "/nested/modules"


def init_script(vmm_args: list[str], modules: list[str]) -> str:
    """Write the busybox shell script L1 runs as init."""
    quoted = " ".join(shlex.quote(arg) for arg in (*INNER_VMM, *vmm_args))
    module_list = " ".join(modules)
    return f"""#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/usr/sbin:/usr/bin HOME=/root LANG=C.UTF-8
for module in {module_list}; do
    insmod {MODULES_DIR}/$module.ko || echo "vmm nested: insmod $module failed"
done
[ -c /dev/kvm ] || echo "vmm nested: the emulated host has no /dev/kvm"
echo 1 > /proc/sys/kernel/printk
stty -onlcr 2>/dev/null
cd /root
echo {START_MARKER}
{quoted}
status=$?
sync
echo
echo "{EXIT_MARKER}$status"
poweroff -f
"""
