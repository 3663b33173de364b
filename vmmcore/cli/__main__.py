"""``python -m vmm``: the same as the ``vmm`` console script."""

from . import main

main()
