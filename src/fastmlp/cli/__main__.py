"""``python -m fastmlp.cli``: the same as ``python -m fastmlp``."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
