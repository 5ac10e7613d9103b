"""``python -m fastmlp``: the same command line as the ``fastmlp`` script (see ``fastmlp.cli``)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
