"""The command line's disk cache of learned discrepancies (bayes_scaling.prediction.discrepancy_cache)."""

import json
import math
import warnings

import numpy as np
import pytest

import bayes_scaling as bs
import bayes_scaling.prediction.discrepancy as dm
from bayes_scaling import artifacts, cli
from bayes_scaling.laws import from_description
from bayes_scaling.prediction import Discrepancy
from bayes_scaling.prediction import discrepancy_cache as cache

KAPLAN = bs.laws.resolve("kaplan")
# a stacked centre with every field set: non-round floats, a companion fit, cuts (values made up)
STACKED = Discrepancy(1.0 / 3.0, 2, 17, ({"axis": "compute", "n_fit": 40, "n_scored": 9, "mean_error": -0.1 / 7,
                                          "rms_z": math.pi / 3, "weight": 0.7},
                                         {"axis": "params", "n_fit": 50, "n_scored": 8, "mean_error": 1e-17,
                                          "rms_z": 2.0 ** 0.5, "weight": 1.0}),
                      "kaplan", 0.1 + 0.2, KAPLAN(N_c=8.8e13 / 3, D_c=5.4e13, alpha_N=0.076, alpha_D=0.095 + 1e-16),
                      1.0 / 7.0)


def _same(a: Discrepancy, b: Discrepancy) -> bool:
    """Field by field, the companion fit by its parameters (laws compare by identity), NaN reach equal."""
    fits = [None if d.companion_fit is None else (type(d.companion_fit), d.companion_fit._asdict()) for d in (a, b)]
    reach = a.reach == b.reach or (math.isnan(a.reach) and math.isnan(b.reach))
    return a._replace(companion_fit=None, reach=0.0) == b._replace(companion_fit=None, reach=0.0) and \
        fits[0] == fits[1] and reach


@pytest.fixture
def counted(monkeypatch, tmp_path):
    """The learner replaced by one that counts its calls (and warns when asked); the cache in tmp_path."""
    calls = []

    def learn(data, spec, fractions, k, starts, stacked_centre):
        calls.append((data.n, k, stacked_centre))
        if getattr(learn, "warn", None):
            warnings.warn("discrepancy: made-up warning", learn.warn, stacklevel=2)
        return STACKED if stacked_centre else Discrepancy(1.25, 4, 12, reach=0.5)

    monkeypatch.setattr(dm, "_learn", learn)
    cache.enable(tmp_path / "discrepancy")
    yield learn, calls
    cache.disable()


def test_a_discrepancy_round_trips_through_json_exactly():
    for disc in (STACKED, Discrepancy(1.25, 4, 12, reach=0.5), Discrepancy(1.0)):  # NaN reach: none learned
        back = cache.from_json(json.loads(json.dumps(cache.to_json(disc))))
        assert _same(back, disc)


def test_the_same_inputs_learn_once_and_any_change_learns_again(counted):
    _, calls = counted
    data = bs.example_data()
    first = dm.learn_discrepancy(data, "chinchilla")
    again = dm.learn_discrepancy(data, "chinchilla")
    assert first is STACKED and _same(again, STACKED) and len(calls) == 1
    assert len(list((cache.cache_dir()).glob("*.json"))) == 1
    # every input that changes what is learned is in the key
    other_data = bs.from_arrays(data.N, data.D, data.loss * (1 + 1e-15 * (np.arange(data.n) == 0)))
    dm.learn_discrepancy(other_data, "chinchilla")
    dm.learn_discrepancy(data, "chinchilla", flops_per_param_token=8.0)
    dm.learn_discrepancy(data, "chinchilla", fractions=(0.5, 0.75))
    dm.learn_discrepancy(data, from_description({"law": "chinchilla", "fixed": {"E": 1.69}}))
    assert dm.learn_discrepancy(data, "chinchilla", stacked_centre=False).factor == 1.25
    assert len(calls) == 6
    with_u = bs.from_arrays(data.N, data.D, data.loss, U=data.D / 2)  # repeated data: U changes the learning
    dm.learn_discrepancy(with_u, "data-constrained")
    dm.learn_discrepancy(with_u, "data-constrained")
    assert len(calls) == 7
    key = lambda d: cache.cache_key(d, bs.laws.resolve("data-constrained"), fractions=dm.CUT_FRACTIONS,  # noqa: E731
                                    flops_per_param_token=6.0, stacked_centre=True)
    assert key(with_u) != key(bs.from_arrays(data.N, data.D, data.loss, U=data.D / 3))
    # given starts are not part of the key, so such a learning is never cached
    starts = np.zeros((1, 5))
    dm.learn_discrepancy(data, "chinchilla", starts=starts)
    dm.learn_discrepancy(data, "chinchilla", starts=starts)
    assert len(calls) == 9
    # off: nothing is read
    cache.disable()
    dm.learn_discrepancy(data, "chinchilla")
    assert len(calls) == 10


def test_a_learning_that_warned_is_not_cached_and_warns_every_time(counted):
    learn, calls = counted
    learn.warn = RuntimeWarning
    data = bs.example_data()
    for _ in range(2):
        with pytest.warns(RuntimeWarning, match="made-up warning") as rec:
            dm.learn_discrepancy(data, "chinchilla")
        assert rec[0].filename == __file__  # it points at the caller, as without the cache
    assert len(calls) == 2 and not list(cache.cache_dir().glob("*.json"))
    # a library's deprecation notice is shown too, but is no reason not to cache
    learn.warn = DeprecationWarning
    for shown in (1, 0):  # shown by the learning; the second call reads the cache
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            dm.learn_discrepancy(data, "chinchilla")
        assert len(rec) == shown and len(calls) == 3
    assert len(list(cache.cache_dir().glob("*.json"))) == 1


def test_a_learning_that_raises_still_shows_its_warnings(counted, monkeypatch):
    def learn(*args):
        warnings.warn("discrepancy: before the failure", RuntimeWarning, stacklevel=2)
        raise FloatingPointError("made up")

    monkeypatch.setattr(dm, "_learn", learn)
    with pytest.warns(RuntimeWarning, match="before the failure"), pytest.raises(FloatingPointError):
        dm.learn_discrepancy(bs.example_data(), "chinchilla")


def test_an_unreadable_entry_is_learned_again_and_replaced(counted):
    _, calls = counted
    data = bs.example_data()
    dm.learn_discrepancy(data, "chinchilla")
    (entry,) = cache.cache_dir().glob("*.json")
    for junk in ("{not json", "[1]", json.dumps({"key": "another", "discrepancy": cache.to_json(STACKED)}),
                 json.dumps({"key": entry.stem})):
        entry.write_text(junk)
        assert _same(dm.learn_discrepancy(data, "chinchilla"), STACKED)
    assert len(calls) == 5 and json.loads(entry.read_text())["key"] == entry.stem


def test_a_law_defined_outside_the_package_is_never_cached(counted, monkeypatch):
    from compute_law import ComputeLaw

    _, calls = counted
    data = bs.example_data()
    for _ in range(2):
        dm.learn_discrepancy(data, ComputeLaw)
    assert len(calls) == 2 and not list(cache.cache_dir().glob("*.json"))
    # nor a package law whose companion's name now means a law defined here
    dm.learn_discrepancy(data, "chinchilla")  # cached, with the package's Kaplan form as companion
    assert len(calls) == 3 and len(list(cache.cache_dir().glob("*.json"))) == 1

    class MyKaplan(KAPLAN):
        pass

    monkeypatch.setitem(bs.laws.LAWS, "kaplan", MyKaplan)
    for _ in range(2):
        dm.learn_discrepancy(data, "chinchilla")
    assert len(calls) == 5
    with pytest.raises(ValueError, match="not the package's own form"):  # a stored fit is not rebuilt as it
        cache.from_json(cache.to_json(STACKED))


def test_cli_predict_reads_the_cache_and_says_the_same(monkeypatch, tmp_path, capsys):
    calls = []

    def learn(data, spec, fractions, k, starts, stacked_centre):
        calls.append(k)
        return STACKED

    monkeypatch.setattr(dm, "_learn", learn)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    ds = bs.example_data()
    law = bs.Chinchilla(E=rng.uniform(1.6, 1.8, 20), A=rng.uniform(380, 420, 20), B=rng.uniform(380, 420, 20),
                        alpha=rng.uniform(0.32, 0.36, 20), beta=rng.uniform(0.26, 0.30, 20))
    meta = artifacts.metadata(ds, law="chinchilla", method="bootstrap", seed=0)
    path = tmp_path / "boot.nc"
    artifacts.save(artifacts.make_idata(law, ds, meta, extra_posterior={"sigma": np.full(20, 0.01)}), path)
    args = ["predict", str(path), "--at", "7e10,1.4e12", "--json"]
    outs = []
    for mode, expect_calls in (("on", 1), ("", 1), ("compile", 2), ("off", 3)):  # "" is the default: on
        monkeypatch.setenv("BAYES_SCALING_CACHE", mode)
        assert cli.main(args) == 0
        outs.append(json.loads(capsys.readouterr().out))
        assert len(calls) == expect_calls, mode
        assert cache.cache_dir() is None  # main() leaves the Python API's default (off)
    cache.enable(tmp_path / "mine")  # and a Python caller's own setting
    try:
        monkeypatch.setenv("BAYES_SCALING_CACHE", "off")
        assert cli.main(args) == 0 and cache.cache_dir() == tmp_path / "mine"
        capsys.readouterr()
    finally:
        cache.disable()
    assert all(o == outs[0] for o in outs)
    assert outs[0]["discrepancy"]["companion"]["weight"] == STACKED.weight
    assert len(list((tmp_path / "cache" / "bayes_scaling" / "discrepancy").glob("*.json"))) == 1
    monkeypatch.setenv("BAYES_SCALING_CACHE", "sometimes")
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "BAYES_SCALING_CACHE must be on, off or compile" in err
