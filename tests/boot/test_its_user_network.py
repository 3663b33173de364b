"""One emulated arm64 host boot for the GICv3 ITS and user-mode networking.

Inside the emulated host (L1), the test's script gives L1 an uplink (a dummy
interface with a default route: passt copies its addresses), starts a DNS server on
it and an HTTP server on L1's loopback, then runs vmm with ``--irqchip gicv3-its
--virtio-transport pci --network mode=user``. The Debian L2 kernel finds its
virtio-pci devices behind the ITS (MSI-X: ITS-MSI lines in /proc/interrupts, with
counts), gets an address by DHCP from passt, resolves a name through passt to the
DNS server and fetches a token over TCP from the loopback server at its gateway
address. After vmm exits, L1 lists any passt left running.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pytest

from .conftest import run_nested
from .l2_images import POWER_OFF, l2_kernel
from .test_virtio_linux import hvc_prelude
from .virtio_images import kernel_module_file, virtio_initramfs

pytestmark = [pytest.mark.boot, pytest.mark.usefixtures("emulated_host")]

ARCH = "arm64"
TIMEOUT = 480
SERVERS = Path(__file__).with_name("user_net_servers.py")
UPLINK, GATEWAY, DNS = "10.88.0.2/24", "10.88.0.1", "10.88.0.53"
NAME, PORT = "host.vmm.test", 8080

DHCP_SCRIPT = """#!/bin/busybox sh
# udhcpc's hook: configure eth0 as the lease says.
case "$1" in
bound|renew)
    ifconfig "$interface" "$ip" netmask "$subnet" up
    route add default gw "$router" dev "$interface"
    mkdir -p /etc
    for server in $dns; do echo "nameserver $server"; done > /etc/resolv.conf
    echo "DHCP-LEASE ip=$ip router=$router dns=$dns"
    ;;
esac
"""


def guest_body(token_marker: str) -> str:
    return (
        hvc_prelude()
        + "mkdir -p /tmp\n"
        + "ip link set eth0 up\n"
        + "timeout 90 udhcpc -i eth0 -n -q -t 5 -T 3 -s /bin/dhcp-hook || echo DHCP-FAILED\n"
        + "server=$(sed -n 's/^nameserver //p' /etc/resolv.conf | head -n 1)\n"
        + f"nslookup {NAME} $server > /tmp/dns 2>&1; cat /tmp/dns\n"
        + "address=$(sed -n '/^Name:/,$ s/^Address:[[:space:]]*//p' /tmp/dns | head -n 1)\n"
        + "echo DNS-ANSWER=$address\n"
        # busybox's nc, not its wget (which crashes in this initramfs): the body is
        # the reply's last line
        + f"echo {token_marker}=$(printf 'GET /token HTTP/1.0\\r\\n\\r\\n' | "
        + f"timeout 20 nc $address {PORT} | tail -n 1)\n"
        + "cat /proc/interrupts\n"
        + "echo GUEST-DONE\n"
        + f"{POWER_OFF[ARCH]}\n"
    )


def l1_script() -> str:
    return (
        '[ -s "$1" ] && insmod "$1"; ip link set lo up; '
        f"ip link add uplink0 type dummy && ip addr add {UPLINK} dev uplink0 && "
        f"ip addr add {DNS}/32 dev uplink0 && ip link set uplink0 up && "
        f"ip route add default via {GATEWAY} || echo UPLINK-FAILED; "
        f'echo "nameserver {DNS}" > /etc/resolv.conf; '
        f'python3 "$4" {DNS} {NAME} {GATEWAY} {PORT} "$5" & servers=$!; '
        "for i in $(seq 100); do [ -e /proc/net/tcp ] && grep -q ':1F90 ' /proc/net/tcp && break; "
        "sleep 0.2; done; "
        f'python3 -m vmm run --arch {ARCH} --sandbox -k "$2" -i "$3" --irqchip gicv3-its '
        '--virtio-transport pci --console virtio -p "console=hvc0 quiet" -n mode=user; '
        "status=$?; kill $servers; "
        'echo PASST-LEFT=$(for p in /proc/[0-9]*; do cat $p/comm 2>/dev/null; done | grep -c passt); '
        "exit $status"
    )


@pytest.mark.parametrize("arch", [ARCH])  # the parameter picks the host to build
def test_guest_uses_msix_through_the_its_and_user_mode_networking(tmp_path: Path, arch: str,
                                                                   show) -> None:
    token = secrets.token_hex(8)
    hook = tmp_path / "dhcp-hook"
    hook.write_text(DHCP_SCRIPT)
    hook.chmod(0o755)
    initramfs = virtio_initramfs(ARCH, "pci", guest_body("TOKEN"), tmp_path / "l2.cpio",
                                 programs={"dhcp-hook": hook})
    dummy = kernel_module_file(ARCH, "dummy", tmp_path / "dummy.ko")
    run = run_nested(
        tmp_path, ARCH, "-c", l1_script(), "sh", str(dummy), str(l2_kernel(ARCH)),
        str(initramfs), str(SERVERS), token,
        options=("--shell",), timeout=TIMEOUT, watch=("DHCP-LEASE", "TOKEN=", "GUEST-DONE"),
    )
    show(f"{ARCH}: ITS + mode=user guest: {run.reported_timings()}; {run.seconds:.1f} s; "
         f"markers at {run.line_times}")
    out = run.stdout
    assert "UPLINK-FAILED" not in out and "DHCP-FAILED" not in out, run.describe()
    assert re.search(r"DHCP-LEASE ip=10\.88\.0\.2 router=10\.88\.0\.1 dns=10\.88\.0\.53", out), \
        run.describe()
    assert f"DNS-ANSWER={GATEWAY}" in out, run.describe()
    assert f"TOKEN={token}" in out, run.describe()
    its_lines = [line for line in out.splitlines()
                 if re.search(r"ITS-(PCI-)?MSI", line) and "virtio" in line]
    assert its_lines, run.describe()
    counts = [int(n) for line in its_lines for n in line.split()[1:2] if n.isdigit()]
    assert any(counts), its_lines  # the interrupts did arrive through the ITS
    assert "GUEST-DONE" in out and run.returncode == 0, run.describe()
    assert "PASST-LEFT=0" in out, run.describe()
