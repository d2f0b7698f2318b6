"""``bayes_scaling.nuts`` is ``bayes_scaling.posterior`` (kept so that existing imports keep working)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("bayes_scaling.posterior")
