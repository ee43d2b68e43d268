"""A strategy-selection test that can fail (issue 18, point 3).

Eight honest strategies (the built-ins) and five fabricated ones that memorised the real path
(tests/studies/fabricated.py: four date-keyed oracles knowing the next day's best asset on 10-16% of the real
closes, one lookup of return-sign patterns mined on the whole sample). On the real history the fabricated
ones take the top five places; ranked by their median Sharpe ratio across worlds of a generator that does not
replay the real path (an i.i.d. day bootstrap) they all fall out of the top half. The same ranking on worlds
that do replay it (every world the real path again, on later dates) keeps the pattern lookup on top: the test
sees the difference, so it can fail.

Small on purpose (4 assets, 2016-2022, 48 worlds): the whole module runs in about 13 seconds on 2 cores.
"""

import numpy as np
import pytest

import strategies as builtin
from fabricated import close_dates, date_oracle, pattern_memo
from stressgen import data, engine, generators, rng
from stressgen.errors import ConfigError
from stressgen.generators.bootstrap import BootstrapConfig
from stressgen.studies import edge_removed, real_scenarios, select

WARM, N_WORLDS, K = 252, 48, 5
COSTS = engine.BacktestConfig(fee_bps=5, slippage_bps=2)
HONEST = {"equal_weight": builtin.EqualWeight(), "inverse_vol": builtin.InverseVolatility(),
          "min_variance": builtin.MinimumVariance(), "buy_and_hold": builtin.BuyAndHold(),
          "ma_10_50": builtin.MACrossover(), "ts_momentum": builtin.TimeSeriesMomentum(),
          "cs_momentum": builtin.CrossSectionalMomentum(), "zscore": builtin.ZScoreReversion()}


@pytest.fixture(scope="module")
def setup():
    market = data.load("sp500-20", start="2016-01-01", assets=["AAPL", "JPM", "XOM", "WMT"])
    horizon = market.log_returns.shape[0] - WARM
    root = rng.root(18)
    gen = generators.get("bootstrap")
    # i.i.d. days (blocks of one, uniform starts): worlds share the real days but not their order
    fitted = gen.fit(market, key=rng.stream(root, rng.FIT),
                     config=BootstrapConfig(mean_block=1.0, matching="none", history_days=WARM))
    worlds = gen.sample(fitted, key=rng.stream(root, rng.SAMPLE), n_worlds=N_WORLDS, horizon=horizon)
    real = real_scenarios(market, worlds)
    traded = np.asarray(market.log_returns)[WARM:WARM + horizon]
    dates = close_dates(real.history_end, real.freq, horizon)
    fakes = {f"date_oracle_{s:.2f}": date_oracle(traded, dates, s, seed=i)
             for i, s in enumerate((0.10, 0.12, 0.14, 0.16))}
    fakes["pattern_memo"] = pattern_memo(traded, 2, history=np.asarray(market.log_returns)[:WARM])
    candidates = {**HONEST, **fakes}
    return market, worlds, real, candidates, tuple(fakes)


@pytest.fixture(scope="module")
def selection(setup):
    _, worlds, real, candidates, _ = setup
    return select(candidates, real, worlds, COSTS, null_worlds=edge_removed(worlds))


def test_fabricated_rank_top_on_the_real_history_and_fall_out_across_worlds(setup, selection, record_property):
    fakes = setup[4]
    n = len(selection.names)
    counts = {m: selection.count_in_top(fakes, m, K) for m in ("real_sharpe", "dsr", "median_world_sharpe")}
    for method, count in counts.items():
        record_property(f"fakes_in_top_{K}_{method}", count)
    print(f"\nfabricated strategies in the top {K} of {n} ({len(fakes)} fabricated): {counts}")
    by_median = selection.ranking("median_world_sharpe")
    for name, real, med in zip(selection.names, selection.real_sharpe, selection.median_world_sharpe):
        print(f"  {name:18s} real Sharpe {real:6.2f}   median across worlds {med:6.2f}   "
              f"rank by median {by_median.index(name) + 1}")
    assert counts["real_sharpe"] == len(fakes) == K  # a plain backtest keeps every fake
    assert counts["dsr"] == K  # deflating for 13 trials does not reorder them
    assert counts["median_world_sharpe"] == 0
    for name in fakes:  # every fake falls out of the top half by median across worlds
        assert by_median.index(name) >= n // 2, name
    # the gap is far beyond sampling error: a median's SE is about 1.25 sd / sqrt(W)
    med = selection.median_world_sharpe
    honest = [i for i, s in enumerate(selection.names) if s not in fakes]
    se = 1.25 * np.nanstd(selection.world_sharpe, axis=1) / np.sqrt(N_WORLDS)
    best_fake = max(range(n), key=lambda i: med[i] if selection.names[i] in fakes else -np.inf)
    top_honest = sorted(honest, key=lambda i: -med[i])[:n // 2]
    for i in top_honest:
        assert med[i] - med[best_fake] > 3 * np.hypot(se[i], se[best_fake])


def test_memorised_returns_are_no_luck_so_the_chance_share_does_not_flag_them(setup, selection):
    """The chance share asks whether a real Sharpe ratio could be luck under no edge: a memoriser's is not."""
    fakes = setup[4]
    for name, chance in zip(selection.names, selection.chance):
        if name in fakes:
            assert chance == 0.0, name


def test_the_check_fails_on_worlds_that_replay_the_real_path(setup, selection):
    """Worlds that are the real path again (later dates, so the date lookups miss): the pattern lookup, mined on
    that path, stays in the top half across worlds. The assertion above would fail on such a generator."""
    market, worlds, real, candidates, fakes = setup
    replay = worlds.replace(log_returns=real.log_returns[:1].repeat(N_WORLDS, axis=0), weights=None)
    again = select(candidates, real, replay, COSTS)
    by_median = again.ranking("median_world_sharpe")
    assert by_median.index("pattern_memo") < len(by_median) // 2
    for name in fakes:
        if name.startswith("date_oracle"):
            assert by_median.index(name) >= len(by_median) // 2, name


def test_the_date_oracle_really_knows_the_real_path(setup):
    """With skill 1 its table holds every real close: each day it earns the best asset's return, less costs of
    at most one full switch (2 x 7 bps), so the fabrication is what the test says it is."""
    market, worlds, real, _, _ = setup
    traded = np.asarray(market.log_returns)[WARM:WARM + worlds.horizon]
    oracle = date_oracle(traded, close_dates(real.history_end, real.freq, worlds.horizon), 1.0, seed=0)
    pnl = np.asarray(engine.backtest(oracle, real, COSTS).pnl[0], np.float64)
    best = np.expm1(traded.max(axis=1))
    gap = best - pnl
    assert gap.min() > -1e-6 and gap.max() < 2 * 7e-4 * (1 + best.max()) + 1e-6, (gap.min(), gap.max())


def test_selection_refuses_what_it_cannot_rank(setup, selection):
    _, worlds, real, candidates, _ = setup
    with pytest.raises(ConfigError, match="at least 2 candidates"):
        select({"one": candidates["equal_weight"]}, real, worlds, COSTS)
    with pytest.raises(ConfigError, match="unknown selection method 'chance'; valid: real_sharpe, dsr"):
        selection.ranking("chance")
    market = setup[0]
    with pytest.raises(ConfigError, match="a warm-up of 252 and .* traded periods need"):
        real_scenarios(market, worlds.replace(log_returns=worlds.log_returns.repeat(2, axis=1)))
