"""``python -m vmmcore.cli``: the same as the ``vmm`` console script."""

from . import main

main()
