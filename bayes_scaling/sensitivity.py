"""``bayes_scaling.sensitivity`` is ``bayes_scaling.analysis.sensitivity`` (kept so that existing imports keep working)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("bayes_scaling.analysis.sensitivity")
