"""The system calls a running VM may make, once the sandbox is on.

Measured, not guessed: ``strace -f`` of ``vmm run`` (everything after the first
KVM_RUN, every thread) on this machine's /dev/kvm with each device (virtio-blk,
-rng, -console, -net on a TAP, the serial console, several vCPUs), and the boot
tier's real Linux guests under vmm in the emulated x86, arm64 and riscv hosts,
which run with the sandbox on (a call missing here ends the VM naming it).
docs/reliability.md has the method. Names absent on an architecture (``open`` on
arm64) are skipped there by libseccomp.
"""

from __future__ import annotations

#: Calls allowed with any arguments, by what needs them.
ALLOWED: dict[str, tuple[str, ...]] = {
    # guest memory, Python's allocator, thread stacks
    "memory": ("mmap", "munmap", "mprotect", "madvise", "brk", "mremap"),
    # eventfds, ioeventfds/irqfds, the console, the TAP, disks, pipes
    "io": ("read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev",
           "preadv2", "pwritev2", "lseek", "close", "fsync", "fdatasync", "fallocate",
           "fcntl", "dup", "dup3"),
    # the I/O threads' and the console's waits
    "waiting": ("epoll_wait", "epoll_pwait", "epoll_ctl", "epoll_create1", "poll", "ppoll",
                "select", "pselect6", "eventfd2", "pipe2", "nanosleep", "clock_nanosleep"),
    # threads: start (I/O threads start when the driver sets DRIVER_OK), locks, exit
    "threads": ("clone", "clone3", "futex", "set_robust_list", "rseq", "exit", "exit_group",
                "sched_yield", "gettid", "getpid", "getrandom"),
    # vCPU kicks (pthread_kill), SIGSYS/SIGTERM handling
    "signals": ("rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "tgkill", "sigaltstack"),
    # reaping passt (--network mode=user) when its card closes at teardown
    "children": ("wait4",),
    # time
    "time": ("clock_gettime", "gettimeofday"),
    # read-only file access for Python's lazy imports (teardown imports modules) and
    # tracebacks with --debug: open is restricted to read-only flags (see OPEN_CALLS)
    "files": ("newfstatat", "fstat", "stat", "lstat", "statx", "getdents64", "readlink",
              "getcwd", "access", "faccessat", "faccessat2"),
}

#: Calls allowed only with read-only flags (no write access, no creation).
OPEN_CALLS = ("open", "openat")

#: ioctl: every KVM request (type 0xAE: KVM_RUN, irq lines, registers, memslots,
#: ioeventfds on fds opened before) ...
IOCTL_TYPE_MASK = 0xFF00
IOCTL_TYPES = {"KVM": 0xAE00}
#: ... and the terminal's termios calls (the console's raw mode and its restore);
#: nothing else: not TIOCSTI (typing into the user's shell), not TUN's.
IOCTL_REQUESTS = {"TCGETS": 0x5401, "TCSETS": 0x5402, "TCSETSW": 0x5403, "TCSETSF": 0x5404,
                  "TIOCGWINSZ": 0x5413}

