"""Boot the emulated host under QEMU, relay its console and return the inner
vmm's exit status; never leave QEMU or temporary files behind."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vmm.core.nested import payload
from vmm.core.nested.console import ConsoleRelay
from vmm.core.nested.cpio import CpioWriter, concatenate
from vmm.core.nested.errors import HostBootError, NestedTimeout
from vmm.core.nested.forwarding import ForwardPlan
from vmm.core.nested.hostimage import HostImage
from vmm.core.nested.initscript import INNER_VMM, init_script
from vmm.core.nested.progress import progress
from vmm.core.nested.qemu import Qemu
from vmm.core.nested.spec import EmulatedHost

PR_SET_PDEATHSIG = 1


@dataclass
class RunResult:
    """What happened in one run of the emulated host."""

    exit_status: int
    boot_seconds: float
    vmm_seconds: float
    total_seconds: float


def _die_with_parent() -> None:
    """In the child: get SIGKILL if vmm dies, so QEMU never outlives it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def write_run_archive(plan: ForwardPlan, modules: list[str], path: Path,
                      program: tuple[str, ...] = INNER_VMM, mounts: tuple[str, ...] = ()) -> None:
    """The per-run initramfs part: ``/init`` and the forwarded files."""
    with open(path, "wb") as stream:
        writer = CpioWriter(stream)
        writer.add_bytes("init", init_script(plan.args, modules, program, mounts).encode(), 0o755)
        made: set[str] = set()
        for source, target in plan.files.items():
            parts = target.strip("/").split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    writer.add_directory(directory)
                    made.add(directory)
            writer.add_file("/".join(parts), source, 0o644)
        writer.close()


def _machine_command(qemu: Qemu, spec: EmulatedHost) -> list[str]:
    """QEMU, the machine and what every run of ``spec``'s host has."""
    boot = spec.firmware_boot
    machine = boot.qemu_machine_args if boot else spec.qemu_machine_args
    return [
        *qemu.command(), "-accel", "tcg", *machine,
        "-m", str(spec.memory_mib), "-smp", str(boot.cpus if boot else 1), "-nodefaults",
        "-display", "none", "-serial", "stdio", "-no-reboot", "-nic", "none",
    ]


def _device_args(spec: EmulatedHost, plan: ForwardPlan) -> list[str]:
    """The disks and ``--share`` directories handed to the emulated host."""
    args = []
    for index, disk in enumerate(plan.disks):
        readonly = "on" if disk.readonly else "off"
        args += [
            "-drive", f"file={disk.path},format=raw,if=none,id=disk{index},"
            f"readonly={readonly},cache=writeback",
            "-device", f"{spec.disk_device},drive=disk{index},serial=vmm-disk{index}",
        ]
    for share in plan.shares:
        args += share.qemu_args(spec.share_device)
    return args


def qemu_command(qemu: Qemu, spec: EmulatedHost, image: HostImage, initrd: Path,
                 plan: ForwardPlan) -> list[str]:
    """The whole QEMU command line for one run of a Debian-kernel host."""
    append = " ".join((f"console={spec.console}", "panic=-1", "quiet", "rdinit=/init",
                       *spec.kernel_args))
    return [*_machine_command(qemu, spec),
            "-kernel", str(image.kernel), "-initrd", str(initrd), "-append", append,
            *_device_args(spec, plan)]


def _initramfs_boot(spec: EmulatedHost, image: HostImage, qemu: Qemu, plan: ForwardPlan,
                    workdir: Path, program: tuple[str, ...],
                    _resources: contextlib.ExitStack) -> list[str]:
    """Write the run's initramfs into ``workdir``; return the QEMU command."""
    modules = list(image.kvm_modules)
    for needed, wanted in ((plan.disks, image.disk_modules), (plan.shares, image.share_modules)):
        if needed:
            modules += [m for m in wanted if m not in modules]
    mounts = tuple(share.mount_command() for share in plan.shares)
    write_run_archive(plan, modules, workdir / "run.cpio", program, mounts)
    initrd = workdir / "initrd"
    concatenate([image.base_archive, image.project_archive, workdir / "run.cpio"], initrd)
    return qemu_command(qemu, spec, image, initrd, plan)


def _firmware_boot(spec: EmulatedHost, image: HostImage, qemu: Qemu, plan: ForwardPlan,
                   workdir: Path, program: tuple[str, ...],
                   resources: contextlib.ExitStack) -> list[str]:
    """Write the run's payload share into ``workdir``; return the QEMU command. The
    tree stays in use (``resources``) until the run ends."""
    boot = spec.firmware_boot
    assert boot is not None
    tree = resources.enter_context(payload.tree_in_use(image))
    mounts = tuple(share.mount_command() for share in plan.shares)
    payload.write_payload(workdir / "payload", plan, program, boot, mounts)
    return [*_machine_command(qemu, spec),
            *payload.firmware_args(boot, tree, workdir / "payload", spec.share_device),
            *_device_args(spec, plan)]


@contextlib.contextmanager
def _terminating_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit so the cleanup below runs."""
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _report_tail(relay: ConsoleRelay, qemu_errors: bytes) -> None:
    lines = list(relay.tail)
    if lines:
        print("vmm nested: last console lines:", file=sys.stderr)
        for line in lines:
            print(f"  | {line}", file=sys.stderr)
    errors = qemu_errors.decode(errors="replace").strip()
    if errors:
        print(f"vmm nested: QEMU said: {errors.splitlines()[-1]}", file=sys.stderr)


def _relay_until_exit(process: subprocess.Popen[bytes], relay: ConsoleRelay,
                      deadline: float, log: object | None) -> bytes:
    """Pump QEMU's output into the relay until it exits or the deadline passes."""
    assert process.stdout and process.stderr
    streams = {process.stdout.fileno(): "out", process.stderr.fileno(): "err"}
    errors = b""
    while streams:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NestedTimeout("")
        ready, _, _ = select.select(list(streams), [], [], min(remaining, 1.0))
        for fd in ready:
            data = os.read(fd, 65536)
            if not data:
                del streams[fd]
            elif streams[fd] == "out":
                relay.feed(data)
                if log is not None:
                    log.write(data)  # type: ignore[attr-defined]
            else:
                errors += data
    relay.finish()
    process.wait()
    return errors


def _write_out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def run_emulated_host(spec: EmulatedHost, image: HostImage, qemu: Qemu, plan: ForwardPlan,
                      timeout: float, console_log: Path | None = None,
                      verbose: bool = False, program: tuple[str, ...] = INNER_VMM) -> RunResult:
    """Boot L1, run the inner vmm and return its exit status with timings."""
    workdir = Path(tempfile.mkdtemp(prefix="vmm-nested-"))
    process: subprocess.Popen[bytes] | None = None
    relay = ConsoleRelay(_write_out)
    log = open(console_log, "wb", buffering=0) if console_log else None  # tail -f works
    resources = contextlib.ExitStack()
    try:
        qemu_command = _firmware_boot if spec.firmware_boot else _initramfs_boot
        command = qemu_command(spec, image, qemu, plan, workdir, program, resources)
        if verbose:
            progress("running " + " ".join(command))
        started = time.monotonic()
        with _terminating_on_signals():
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env={**os.environ, **qemu.env},
                start_new_session=True, preexec_fn=_die_with_parent,
            )
            try:
                errors = _relay_until_exit(process, relay, started + timeout, log)
            except NestedTimeout:
                _stop(process)
                relay.finish()
                _report_tail(relay, b"")
                where = "inside the vmm" if relay.started_at else "while the emulated host booted"
                raise NestedTimeout(
                    f"timed out after {timeout:g} s {where}; QEMU was stopped"
                ) from None
        finished = time.monotonic()
        if relay.exit_status is None:
            _report_tail(relay, errors)
            raise HostBootError(
                f"the emulated {spec.arch} host stopped (QEMU exit status "
                f"{process.returncode}) without reporting the vmm's exit status"
            )
        boot = (relay.started_at or finished) - started
        result = RunResult(relay.exit_status, boot, finished - started - boot,
                           finished - started)
        if verbose:
            progress(f"emulated host booted in {result.boot_seconds:.1f} s, vmm ran "
                     f"{result.vmm_seconds:.1f} s, total {result.total_seconds:.1f} s")
        return result
    finally:
        if process is not None:
            _stop(process)
            for stream in (process.stdout, process.stderr):
                if stream:
                    stream.close()
        if log is not None:
            log.close()
        resources.close()
        shutil.rmtree(workdir, ignore_errors=True)
