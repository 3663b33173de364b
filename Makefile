# vmm: two commands do all the set-up on a fresh machine.
#   make run    builds .venv (pluggy, cffi, typer) and boots the built-in guest
#   make test   installs the test tools (apt) and runs the whole test suite
#   make bench  vmm side by side with QEMU microvm (not part of the tests)
#   make cca-kit  rebuilds the emulated Arm CCA host (vmm nested --rme) from its sources
# Extra arguments: make run ARGS="--arch arm64 --dry-run -k Image"; make test PYTEST_ARGS="-m 'not boot'"
#                  make bench BENCH_ARGS="--runs 5 --json bench.json"  (--skip nested --skip blk: quick)

PYTHON ?= python3
VENV ?= .venv
ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=

# Debian packages the tests use: dtc for device trees, binutils/gcc for the
# project-written guests and the <linux/kvm.h> comparison, the arm64 and riscv64
# kernel headers for their UAPI comparisons, llvm (llvm-mc) to cross-check
# hand-encoded instructions, iproute2 (ip) for the TAP test, QEMU for the one
# carried into the emulated x86 host, archive tools for the emulated hosts that
# `vmm nested` builds, libseccomp for the sandbox the tests require and its
# header (a test compares the binding's constants with it). scripts/fresh-machine
# proves the list complete. passt is --network mode=user's user-mode network stack.
APT_TEST_PACKAGES = device-tree-compiler binutils gcc libc6-dev linux-libc-dev \
	linux-libc-dev-riscv64-cross linux-libc-dev-arm64-cross llvm iproute2 \
	qemu-system-x86 cpio xz-utils zstd kmod ca-certificates libseccomp2 libseccomp-dev passt

.PHONY: run test deps venv bench cca-kit

# editable_mode=compat: a plain path entry in site-packages instead of setuptools'
# import-hook finder, which cost every vmm start ~5 ms of CPU (docs/performance.md)
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test,fuzz]' --config-settings editable_mode=compat
	# byte-compile once: some environments set PYTHONDONTWRITEBYTECODE, and
	# recompiling vmm's sources on every start costs a fifth of its start-up
	$(VENV)/bin/python -m compileall -q vmm hookspecs.py vmmcore plugins
	# derive the plugins' hook tables and read the entry points once, so the first
	# real command starts warm (vmm.core.startupcache, docs/performance.md)
	$(VENV)/bin/vmm --help > /dev/null
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	$(VENV)/bin/vmm run $(ARGS)

# apt-get through sudo unless make runs as root
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)

# "ok installed" only: dpkg -s also succeeds for a removed package whose
# configuration files are left
deps:
	@missing=$$(for p in $(APT_TEST_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@if [ -x scripts/install-test-deps ]; then scripts/install-test-deps; fi

test: $(VENV)/.installed deps
	$(VENV)/bin/python -m pytest tests $(PYTEST_ARGS)

# Installs QEMU (qemu-system-x86) and binutils with apt-get when they are missing;
# the emulated-host parts need the test tools (deps) and vmm nested's cache.
bench: $(VENV)/.installed deps
	$(VENV)/bin/python -m benchmarks $(BENCH_ARGS)

# Needs the git hosts and a cross toolchain (scripts/build-cca-kit --help); CI uses
# ../shared/cca instead. CCA_KIT_ARGS="--only guest" builds one part.
CCA_KIT_ARGS ?=
cca-kit: $(VENV)/.installed
	$(VENV)/bin/python scripts/build-cca-kit $(CCA_KIT_ARGS)
