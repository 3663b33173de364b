"""``python -m vmm``: the same as the ``vmm`` console script."""

from vmm.core.cli import main

main()
