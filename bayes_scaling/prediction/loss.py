"""Loss forecasts at any of a law's inputs: mean-law interval, predictive interval, extrapolation.

:func:`predict_loss` takes whichever of N, D, C (= k N D) and U the caller has and resolves the
law's own inputs with :func:`bayes_scaling.laws.inputs_for` (a compute-only law gets C from N and
D; a law of N and D gets D from N and C). :func:`extrapolation_decades` measures how far the query
lies outside the fitted data over every quantity known on both sides.
"""

from __future__ import annotations

import math
import warnings

import jax.numpy as jnp
import numpy as np

from ..checks import check_int, check_key
from ..laws import check_law_value, inputs_for, sample_shape
from ..tables import Table
from ._core import DEFAULT_K, _check_level, _log_loss_inputs, _mapped, _per_sample, _positive
from .predictive import _predictive_interval
from .discrepancy import widen
from .summaries import summarize

__all__ = ["predict_loss", "extrapolation_decades"]

_ORDER = ("N", "D", "C", "U")
# Width factors learned by predict_loss(data=...), by (data hash, law form, k): the refits take
# seconds, and a loop of forecasts from one fit should not redo them.
_LEARNED: dict = {}


def _query_log10(q: dict, k: float) -> dict:
    """log10 of every quantity the query determines: N, D, U as given (D also from N and C), and
    C in units of k (``log10(C / k) = log10 N + log10 D``, so k cancels against the data's)."""
    out = {n: np.log10(q[n]) for n in ("N", "D", "U") if n in q}
    if "D" not in out and "N" in q and "C" in q:
        out["D"] = np.log10(q["C"]) - np.log10(k) - out["N"]
    if "N" in q and "D" in q:
        out["C"] = out["N"] + out["D"]
    elif "C" in q:
        out["C"] = np.log10(q["C"]) - np.log10(k)
    return out


def _data_log10(data) -> dict | None:
    """log10 of the data's N, D, C / k (= N D) and, when present, U (flat arrays)."""
    if data is None:
        return None
    U = None
    if hasattr(data, "N") and hasattr(data, "D"):
        N, D, U = data.N, data.D, getattr(data, "U", None)
    else:
        try:
            N, D = data
        except (TypeError, ValueError):
            raise ValueError("data must be a Dataset, an object with N and D, or a pair (N, D)") from None
    N = np.asarray(_positive("data N", N)).reshape(-1)
    D = np.asarray(_positive("data D", D)).reshape(-1)
    if N.shape != D.shape or N.size == 0:
        raise ValueError(f"data N and D must be non-empty and of one length; got {N.shape}, {D.shape}")
    out = {"N": np.log10(N), "D": np.log10(D)}
    out["C"] = out["N"] + out["D"]
    if U is not None:
        out["U"] = np.log10(np.asarray(_positive("data U", U)).reshape(-1))
    return out


def _given(N, D, C, U) -> dict:
    """The query quantities that were given, validated (positive, finite) and broadcast."""
    given = {n: np.asarray(_positive(n, v)) for n, v in zip(_ORDER, (N, D, C, U)) if v is not None}
    try:
        return dict(zip(given, np.broadcast_arrays(*given.values())))
    except ValueError:
        shapes = ", ".join(f"{n} {v.shape}" for n, v in given.items())
        raise ValueError(f"the query's inputs must broadcast to one shape; got {shapes}") from None


def extrapolation_decades(N=None, D=None, data=None, *, C=None, U=None,
                          flops_per_param_token=DEFAULT_K) -> np.ndarray:
    """How far the query lies outside the data's range, in decades (0 inside).

    The distance is the largest of the distances, in log10, of each quantity known both for the
    query and for the data (N, D, C = k N D and U) outside the data's range [min, max] of it. The k
    of ``C = k N D`` cancels (both sides use the same k). NaN when ``data`` is None.

    Args:
        N, D, C, U: query points (broadcast; give any that determine the law's inputs).
        data: a :class:`~bayes_scaling.data.Dataset`, any object with ``N`` and ``D`` (and
            optionally ``U``), or ``(N, D)``.
        flops_per_param_token: k in ``C = k N D``.

    Examples:
        >>> float(extrapolation_decades(1e11, 1e11, ([1e8, 1e10], [1e9, 1e11])))
        1.0
    """
    q = _given(N, D, C, U)
    if not q:
        raise ValueError("give the query points: some of N, D, C, U")
    shape = next(iter(q.values())).shape
    ref = _data_log10(data)
    if ref is None:
        return np.full(shape, np.nan)
    k = float(_positive("flops_per_param_token", flops_per_param_token))
    logs = _query_log10(q, k)
    common = [n for n in _ORDER if n in logs and n in ref]
    if not common:
        return np.full(shape, np.nan)
    out = np.zeros(shape)
    for n in common:
        x, r = logs[n], ref[n]
        out = np.maximum(out, np.maximum(r.min() - x, x - r.max()))
    return out


def share(weight) -> str:
    """A stacking weight for text: two decimals, or one significant figure below 0.005 (never "0.00")."""
    return f"{weight:.2f}" if weight >= 0.005 or weight == 0 else f"{weight:.1g}"


def scaled(factor) -> str:
    """'widened 1.31x' or 'narrowed 0.693x' (a factor below 1 narrows the interval)."""
    return f"{'widened' if factor >= 1 else 'narrowed'} {factor:.3g}x"


def _kind_note(kind, disc) -> str:
    if kind == "exact-law":
        return "intervals: exact-law (parameter uncertainty and noise; no law discrepancy)"
    moved = "" if disc.companion is None else (
        f", not moved toward the {disc.companion} form (its leave-future-out stacking weight is 0)" if disc.weight == 0
        else f", its centre moved {share(disc.weight)} of the way (in log loss) to the {disc.companion} form's "
        "extrapolation (leave-future-out stacking)")
    return (f"intervals: allowing for the law's discrepancy, the exact-law interval {scaled(disc.factor)} "
            f"around the estimate{moved} (learned from {disc.n_cuts} internal rolling-origin refits)")


def stacked_centre(disc, law_cls, estimate, xs):
    """The discrepancy's predictive centre at the query inputs ``xs`` (the law's), or None when it
    has no companion form (the centre is then the estimate)."""
    if disc.companion is None:
        return None  # the factor alone
    if disc.companion == law_cls.name:
        raise ValueError(f"the discrepancy moves the centre toward the {disc.companion} form, which is the law's "
                         "own; learn it for this law (learn_discrepancy(data, law))")
    if tuple(law_cls.inputs) != ("N", "D"):
        raise ValueError(f"the discrepancy moves the centre by the {disc.companion} form's extrapolation in "
                         f"(N, D), but the {law_cls.name} law reads {', '.join(law_cls.inputs)}; learn the "
                         "discrepancy for this law")
    if disc.weight == 0 or disc.companion_fit is None:
        return None  # after the checks, so that one learned for another form is refused at weight 0 too
    return disc.centre(estimate, *xs)


def _reach_note(ext, reach) -> str:
    """Whether the query lies within the internal refits' tested reach (the width factor is then itself
    extrapolated beyond it)."""
    if not math.isfinite(reach):
        return "tested reach: not known (the discrepancy gives none), so no query can be checked against it"
    ext = np.asarray(ext, dtype=np.float64).reshape(-1)
    if not np.isfinite(ext).any():
        return (f"tested reach: {reach:.2f} decades (the farthest internal extrapolation the width factor was "
                "learned from); no data to measure the queries' distance against")
    beyond = int(np.sum(ext > reach))
    if not beyond:
        return (f"tested reach: every query lies within {reach:.2f} decades of the data, as far as the internal "
                "extrapolations the width factor was learned from")
    return (f"beyond the tested reach: {beyond} of {ext.size} queries lie more than {reach:.2f} decades outside the "
            "data, farther than any internal extrapolation the width factor was learned from, so there the factor "
            "is itself extrapolated (untested by the data)")


def _noise_note(nus, key, n_draws) -> str:
    kind = "Gaussian" if nus is None else "Student-t"
    how = "exact mixture quantiles" if key is None else f"{n_draws} Monte-Carlo noise draws"
    return f"predictive: {kind} noise on log loss, {how}"


def _resolve_discrepancy(law, intervals, discrepancy, data, sigma, k, law_spec=None):
    """(Discrepancy or None, interval kind) for predict_loss."""
    from .discrepancy import INTERVAL_KINDS, Discrepancy, learn_discrepancy

    if intervals not in INTERVAL_KINDS:
        raise ValueError(f"intervals must be one of {INTERVAL_KINDS}; got {intervals!r}")
    if sigma is None:
        return None, None
    if intervals == "exact-law":
        return None, "exact-law"
    if discrepancy is not None:
        if not isinstance(discrepancy, Discrepancy):
            raise ValueError(f"discrepancy must be a Discrepancy (learn_discrepancy); got {type(discrepancy)}")
        widen(1.0, 1.0, 1.0, discrepancy.factor)  # a finite factor > 0, or a ValueError here
        return discrepancy, "discrepancy"
    if getattr(data, "loss", None) is None:
        warnings.warn("predict_loss: no fitted data (a Dataset with losses) to learn the law discrepancy "
                      "from, so the predictive intervals assume the law is exact; pass data= or "
                      "discrepancy=, or intervals='exact-law' to silence this", RuntimeWarning, stacklevel=3)
        return None, "exact-law"
    from ..data import Dataset, data_hash, from_arrays

    if not isinstance(data, Dataset):  # e.g. a DataFrame with N, D and loss columns: validate it as data
        try:
            cols = [np.asarray(getattr(data, c), dtype=np.float64) for c in ("N", "D", "loss")]
        except (AttributeError, TypeError, ValueError) as e:
            raise ValueError("predict_loss: to learn the law discrepancy, data must be a Dataset "
                             "(bayes_scaling.from_arrays or from_csv) or have numeric N, D and loss; got "
                             f"{type(data).__name__} ({e})") from None
        U = getattr(data, "U", None)
        data = from_arrays(*cols, U=None if U is None else np.asarray(U, dtype=np.float64))

    spec = type(law) if law_spec is None else _fitted_spec(law, law_spec)
    spec_key = (spec.form, tuple(spec.fixed.items()), tuple(spec.tied.items())) if hasattr(spec, "form") else spec
    key = (data_hash(data), spec_key, float(k))
    if key in _LEARNED:
        return _LEARNED[key], "discrepancy"
    disc = learn_discrepancy(data, spec, flops_per_param_token=k)
    if not disc.n_cuts:  # nothing learned (warned): the intervals are the exact-law ones, and say so
        return None, "exact-law"  # not kept, so that the warning is given every time
    if len(_LEARNED) >= 32:
        _LEARNED.pop(next(iter(_LEARNED)))
    _LEARNED[key] = disc
    return disc, "discrepancy"


def _fitted_spec(law, law_spec):
    """The law spec the discrepancy is learned for, checked against the law's form."""
    from ..laws import resolve
    from ..laws.constrained import Constrained

    spec = resolve(law_spec)
    form = spec.form if isinstance(spec, Constrained) else spec
    if form is not type(law):
        raise ValueError(f"law_spec is a {form.name} law, but the law is {type(law).name}; give the spec the "
                         "law was fitted with")
    return spec


def predict_loss(law, N=None, D=None, *, C=None, U=None, sigma=None, nu=None, key=None,
                 level: float = 0.9, data=None, n_draws: int = 20_000,
                 flops_per_param_token=DEFAULT_K, intervals: str = "discrepancy",
                 discrepancy=None, law_spec=None) -> Table:
    """Loss forecast at the query points: mean-law interval, predictive interval, extrapolation.

    * ``estimate``, ``lower``, ``upper``: median and central ``level`` interval over samples of the
      mean law L (NaN interval for a point law).
    * ``predictive_lower``, ``predictive_upper``: interval of a new observation, adding the fitted
      noise on log loss, ``log L_obs = log L + sigma * eps`` with eps standard normal (``nu``
      None) or Student-t with ``nu`` dof, mixed over samples. Computed exactly (safeguarded Newton
      on the mixture CDF) when ``key`` is None, or from ``n_draws`` noise draws with ``key``. NaN
      when ``sigma`` is None (no noise model). By default (``intervals="discrepancy"``) the
      interval allows for the law's discrepancy beyond the data: the exact-law interval widened
      ``kappa`` times around the estimate on the log scale, ``kappa`` learned from the data's own
      rolling-origin refits (:mod:`bayes_scaling.prediction.discrepancy`); for Chinchilla's and
      Kaplan's forms the interval and its centre are first moved part of the way to the other
      form's extrapolation, by its leave-future-out stacking weight; ``intervals="exact-law"``
      gives the interval that assumes the law is exact (parameter uncertainty and noise only).
    * ``predictive_centre``: the centre of the predictive interval (the estimate, moved as above
      by the default intervals of Chinchilla's and Kaplan's forms; NaN without a noise model).
    * ``width_factor``: the factor applied to the exact-law predictive interval (1 for exact-law
      intervals, NaN without a noise model).
    * ``extrapolation_decades``: :func:`extrapolation_decades` against ``data`` (NaN without data).
    * ``tested_reach_decades``: the discrepancy's tested reach (:class:`~bayes_scaling.prediction.
      discrepancy.Discrepancy` ``reach``): the farthest internal extrapolation the width factor was
      learned from. A query whose ``extrapolation_decades`` exceeds it relies on the factor beyond
      anything the data tested, and a note says how many do (NaN for exact-law intervals).

    Args:
        law: a law pytree at any sample shape.
        N, D, C, U: query points (broadcast against each other): any that determine the law's
            inputs (C is derived as ``k N D``, D as ``C / (k N)`` when needed).
        sigma: noise scale on log loss: a scalar or an array of ``sample_shape(law)``.
        nu: Student-t dof, scalar or per sample (None: Gaussian noise).
        key: optional PRNG key; with it the predictive interval is Monte Carlo.
        level: interval level.
        data: the fitted data (Dataset or (N, D)) for the extrapolation flag.
        n_draws: total noise draws for the Monte-Carlo path.
        flops_per_param_token: k in ``C = k N D``.
        intervals: "discrepancy" (default) or "exact-law" (see above).
        discrepancy: a learned :class:`~bayes_scaling.prediction.discrepancy.Discrepancy`; default:
            learned from ``data`` (a Dataset with losses) for the law's form (its unconstrained
            class: a Chinchilla or Kaplan law gets the stacked centre). Pass one learned with
            :func:`~bayes_scaling.prediction.learn_discrepancy` for a constrained law or another
            objective. Without either, the intervals are exact-law ones, with a warning.
        law_spec: the spec the law was fitted with (a name, Law class or
            :class:`~bayes_scaling.Constrained`; a bootstrap result's ``law_spec``), for which the
            default discrepancy is learned from ``data``; default: the law's unconstrained form.
            A law pytree does not carry its constraints, so give it for a constrained fit.

    Returns:
        A :class:`~bayes_scaling.tables.Table` with columns: the given inputs and any the law reads
        (in the order N, D, C, U), estimate, lower, upper, predictive_lower, predictive_upper,
        predictive_centre, width_factor, extrapolation_decades, tested_reach_decades, of the query
        points' broadcast shape; meta
        ``intervals`` ("discrepancy", "exact-law", or None without a noise model) and
        ``discrepancy`` (its summary, or None).

    Raises:
        ValueError: when the given inputs do not determine the law's (naming the law).

    Examples:
        >>> from bayes_scaling import HOFFMANN_2022
        >>> t = predict_loss(HOFFMANN_2022, 7e10, 1.4e12, sigma=0.01)
        >>> round(float(t["estimate"]), 4)
        1.9366
    """
    check_law_value(law)
    level = _check_level(level)
    k = float(_positive("flops_per_param_token", flops_per_param_token))
    if key is not None:
        check_key(key)
        check_int("n_draws", n_draws, 1)
    given = _given(N, D, C, U)
    xs = inputs_for(type(law), **given, flops_per_param_token=k)
    if U is not None and "U" not in type(law).inputs:
        raise ValueError(f"law {type(law).name!r} does not read unique tokens U (inputs {type(law).inputs}); "
                         "drop U=")
    qshape = np.broadcast_shapes(*(np.shape(v) for v in given.values()))
    xs = [np.broadcast_to(np.asarray(x, dtype=np.float64), qshape) for x in xs]
    sig = _per_sample("sigma", sigma, law)
    nus = _per_sample("nu", nu, law)
    if nus is not None and sig is None:
        raise ValueError("nu (Student-t dof) was given without sigma (the noise scale)")
    nd = len(sample_shape(law))
    log_mu = _mapped(_log_loss_inputs, law, *(jnp.asarray(x) for x in xs))
    mean = summarize(np.exp(np.asarray(log_mu)), nd, level, name="loss")
    disc, kind = _resolve_discrepancy(law, intervals, discrepancy, data, sig, k, law_spec)
    if sig is None:
        p_lo = p_hi = p_c = factor = np.full(qshape, np.nan)
        notes = ["no noise model (sigma): predictive interval not available"]
    else:
        p_lo, p_hi = _predictive_interval(log_mu, sig, nus, level, key, n_draws, nd)
        factor = np.full(qshape, 1.0 if disc is None else float(disc.factor))
        moved = None if disc is None else stacked_centre(disc, type(law), mean.estimate, xs)
        # the centre the interval is built around: the estimate, clipped into the exact-law interval as
        # widen() does (a skewed mixture's narrow central interval can miss it), or the moved centre
        p_c = np.exp(np.clip(np.log(np.asarray(mean.estimate, dtype=np.float64)), np.log(p_lo), np.log(p_hi))) \
            if moved is None else moved
        p_lo, p_hi = widen(p_lo, p_hi, mean.estimate, factor, moved)
        notes = [_noise_note(nus, key, n_draws), _kind_note(kind, disc)]
    read = dict(zip(type(law).inputs, xs))
    cols = {n: given[n] if n in given else read[n] for n in _ORDER if n in given or n in read}
    ext = extrapolation_decades(**given, data=data, flops_per_param_token=k)
    reach = math.nan if sig is None or disc is None else float(disc.reach)
    if sig is not None and disc is not None:
        notes.append(_reach_note(ext, reach))
    cols.update({
        "estimate": mean.estimate, "lower": mean.lower, "upper": mean.upper,
        "predictive_lower": p_lo, "predictive_upper": p_hi, "predictive_centre": p_c, "width_factor": factor,
        "extrapolation_decades": ext, "tested_reach_decades": np.full(qshape, reach),
    })
    title = f"Loss at ({', '.join(type(law).inputs)})"
    meta = {"intervals": kind, "discrepancy": None if disc is None else disc.summary()}
    return Table(cols, level=level, title=title, notes=notes, meta=meta)
