"""What ``vmm nested`` tells the user while it fetches, builds and boots (stderr).

Its own module so that every step (QEMU, the host image, the runner) can report
without importing the others.
"""

from __future__ import annotations

import sys


def progress(message: str) -> None:
    """Tell the user what is being fetched or built (on stderr)."""
    print(f"vmm nested: {message}", file=sys.stderr, flush=True)
