"""``python -m bayes_scaling.cli ...``: the same as ``bayes-scaling ...``."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
