"""``bayes_scaling.predict`` is ``bayes_scaling.prediction`` (kept so that existing imports keep working)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("bayes_scaling.prediction")
