"""``bayes_scaling.backtest`` is ``bayes_scaling.analysis.backtest`` (kept so that existing imports keep working)."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("bayes_scaling.analysis.backtest")
