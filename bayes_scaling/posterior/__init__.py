r"""Bayesian posterior of a scaling law: a numpyro model, a fast NUTS sampler, diagnostics, artifacts.

Written against the law protocol (:mod:`bayes_scaling.laws`): any law form, or a
:class:`~bayes_scaling.laws.Constrained` one (fixed parameters are not sampled, tied ones copied),
passed as ``law=`` (default ``"chinchilla"``). Two levels of API:

* :func:`model` is a plain numpyro model with ``obs=``. Hand it to ``numpyro.infer.MCMC``,
  ``Predictive`` or SVI yourself.
* :func:`sample` runs NUTS on it and returns plain data (:class:`PosteriorResult`): the law pytree
  with ``(chain, draw)`` leaves, the noise scale, sample statistics and a convergence verdict.
  :func:`to_inference_data` turns it into an ArviZ ``InferenceData`` (posterior, sample_stats,
  observed_data, pointwise log_likelihood, optional posterior_predictive) with provenance
  metadata; :func:`save` / :func:`load` write and read netCDF.

Modules: :mod:`~bayes_scaling.posterior.numpyro_model` (the model, priors),
:mod:`~bayes_scaling.posterior.potential` (U(z): generic autodiff path and a law's fast path),
:mod:`~bayes_scaling.posterior.engine` (the law-agnostic NUTS engine),
:mod:`~bayes_scaling.posterior.program` (the compiled, cached sampler),
:mod:`~bayes_scaling.posterior.sampling` (:func:`sample`), :mod:`~bayes_scaling.posterior.diagnostics`,
:mod:`~bayes_scaling.posterior.predictive`, :mod:`~bayes_scaling.posterior.io`.

Geometry (measured in ``benchmarks/bench_nuts.py``; see benchmarks/RESULTS.md)
-----------------------------------------------------------------------------
A law may sample some parameters through sites defined at the data's centre. The Chinchilla law
samples its two reducible terms *at the data's centre* rather than A and B:

.. math::
    \log L = \mathrm{LSE}\big(\log A_c - \alpha (\log N - \bar{\log N}),\;
                              \log B_c - \beta (\log D - \bar{\log D}),\; \log E\big),
    \qquad A = A_c\, e^{\alpha \bar{\log N}},\; B = B_c\, e^{\beta \bar{\log D}},

where the bars are the (weighted) means of the fitted points. In the usual (log A, alpha)
coordinates the posterior is a ridge with correlation about -0.9999 (log A moves by
``mean(log N)`` ~ 20 per unit of alpha); centred, the largest correlation is about -0.98 and it is
linear, so a dense mass matrix (the default) removes it.

With the law's fast path (Chinchilla has one) the sampler then moves in *level* coordinates
(``geometry="level"``, the default): the log of the law's level at the centre,
``L_c = E + A_c + B_c``, and the log-ratios ``log(A_c / E)``, ``log(B_c / E)`` replace
``log E, log A_c, log B_c`` (a unit-Jacobian change of variables; the model, its priors and the
draws are unchanged). The data pin ``L_c`` down best; in the log coordinates its constraint is a
curved surface, which on weak data (few sizes, noise 0.02) bends into a funnel towards small E and
produced divergences in 11 of 16 simulated datasets. Other laws sample their sites as they are,
with the likelihood's gradient by autodiff.

Each chain first finds the posterior mode by BFGS from its own start; all chains then start at
overdispersed draws (twice the sd) from the Laplace approximation at the best mode and use its
covariance as their first metric, which removes most of the cost of early warmup. Step sizes are
adapted to a mean acceptance of 0.9 (Stan's default is 0.8), which removed the remaining
divergences on those weak-data posteriors at about 7% more leapfrog steps on Epoch's data.
On Epoch's 240 points (4 x (1000 + 1000), Student-t): 6.8 leapfrog steps per draw and a min bulk
ESS of 6,100, against 690 steps per draw and a min ESS of 1,600 for plain numpyro NUTS in the
uncentred, diagonal-mass parameterisation (benchmarks/RESULTS.md, "NUTS posterior").

Priors: each law's defaults and their reasoning live with the law
(:meth:`~bayes_scaling.laws.Law.default_priors`; Chinchilla's in :mod:`bayes_scaling.laws.chinchilla`);
the noise priors are in :mod:`~bayes_scaling.posterior.numpyro_model`. All are overridable through
``priors=``.

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 2, App. D.2.
    Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102.
    Vehtari et al. 2021, "Rank-normalization, folding, and localization: an improved R-hat",
    Bayesian Analysis 16(2) (R-hat, bulk and tail ESS).
"""

from __future__ import annotations

from .diagnostics import ESS_MIN, RHAT_MAX, ConvergenceWarning, diagnose, warn_if_unconverged
from .io import from_inference_data, load, save, to_inference_data
from .numpyro_model import LIKELIHOODS, default_priors, describe_priors, model, noise_priors
from .predictive import log_likelihood, posterior_predictive, prior_predictive
from .sampling import PosteriorResult, sample

__all__ = [
    "ESS_MIN",
    "LIKELIHOODS",
    "RHAT_MAX",
    "ConvergenceWarning",
    "PosteriorResult",
    "default_priors",
    "describe_priors",
    "diagnose",
    "from_inference_data",
    "load",
    "log_likelihood",
    "model",
    "noise_priors",
    "posterior_predictive",
    "prior_predictive",
    "sample",
    "save",
    "to_inference_data",
    "warn_if_unconverged",
]


def __getattr__(name):
    if name == "DEFAULT_PRIORS":  # the old module constant: the default law's priors, sigma and nu
        return default_priors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
