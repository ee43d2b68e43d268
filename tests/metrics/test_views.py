"""Entropy pooling: closed forms, views that already hold, the entropy-pooling package, KKT, bad views."""

import numpy as np
import pytest
from entropy_pooling import ep

from stressgen.errors import ConfigError
from stressgen.metrics import (InfeasibleViewsError, MeanView, PoolConfig, PoolingSolveError, ProbabilityView,
                               RankingView, ViewError, VolatilityView, entropy_pool)


def _worlds(seed, n=400):
    g = np.random.default_rng(seed)
    x = 0.05 + 0.2 * g.standard_t(5, n)  # a fat-tailed "annual return"
    y = 0.6 * x + 0.1 * g.normal(size=n)
    prior = g.uniform(0.2, 1.8, n)  # non-uniform, like importance weights
    return x, y, prior / prior.sum()


@pytest.mark.parametrize("event", ["<=", ">"])
def test_one_probability_view_on_a_uniform_prior_is_the_closed_form(event):
    x, _, _ = _worlds(0)
    n = x.size
    post = entropy_pool(None, [ProbabilityView("x", -0.25, 0.05, event=event)], {"x": x})
    inside = x <= -0.25 if event == "<=" else x > -0.25
    want = np.where(inside, 0.05 / inside.sum(), 0.95 / (n - inside.sum()))
    np.testing.assert_allclose(post.probabilities, want, rtol=1e-12, atol=0)
    # KL of the closed form, by hand
    kl = 0.05 * np.log(0.05 / (inside.sum() / n)) + 0.95 * np.log(0.95 / (1 - inside.sum() / n))
    assert post.relative_entropy == pytest.approx(kl, rel=1e-10)
    assert post.fits[0].residual < 1e-12 and post.fits[0].binding


def test_one_probability_view_on_a_weighted_prior_scales_each_side():
    x, _, prior = _worlds(1)
    inside = x <= -0.2
    post = entropy_pool(prior * 7.0, [ProbabilityView("x", -0.2, 0.1)], {"x": x})  # prior need not sum to 1
    want = np.where(inside, prior * 0.1 / prior[inside].sum(), prior * 0.9 / prior[~inside].sum())
    np.testing.assert_allclose(post.probabilities, want, rtol=1e-12)
    np.testing.assert_allclose(post.prior, prior, rtol=1e-14)


def test_views_that_already_hold_leave_the_weights_uniform():
    x, y, _ = _worlds(2)
    n = x.size
    k = int((x <= 0).sum())
    views = [ProbabilityView("x", 0.0, k / n), MeanView("y", float(np.mean(y))),
             MeanView("x", float(np.mean(x)) + 0.05, "<="), VolatilityView("x", float(np.std(x)) * 1.5, "<="),
             RankingView(("x", "y"), ">=") if x.mean() >= y.mean() else RankingView(("y", "x"), ">=")]
    post = entropy_pool(None, views, {"x": x, "y": y})
    np.testing.assert_allclose(post.probabilities, np.full(n, 1.0 / n), rtol=1e-10)
    assert post.relative_entropy == pytest.approx(0.0, abs=1e-14)
    assert post.effective.kish == pytest.approx(n, rel=1e-9) and post.effective.entropy == pytest.approx(n)
    assert not any(f.binding for f in post.fits[2:])


def _reference(prior, eq_rows, eq_rhs, ineq_rows, ineq_rhs):
    """The entropy-pooling package (L-BFGS-B), sum-to-one as its first equality row."""
    a = np.vstack([np.ones(prior.size)] + eq_rows)
    b = np.array([[1.0]] + [[v] for v in eq_rhs])
    g = np.vstack(ineq_rows) if ineq_rows else None
    h = np.array([[v] for v in ineq_rhs]) if ineq_rows else None
    p = ep(prior[:, None], a, b, g, h, method="L-BFGS-B")[:, 0]
    residual = max(np.abs(a @ p - b[:, 0]).max(), (g @ p - h[:, 0]).max() if ineq_rows else 0.0)
    return p, residual


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_posterior_matches_the_entropy_pooling_package(seed):
    x, y, prior = _worlds(seed)
    cut = float(np.quantile(x, 0.08))
    views = [ProbabilityView("x", cut, 0.15), MeanView("y", 0.03), MeanView("x", 0.0, ">="),
             ProbabilityView("y", 0.2, 0.02, event=">", relation="<="), VolatilityView("x", 0.3, mean=0.02)]
    post = entropy_pool(prior, views, {"x": x, "y": y})
    # Meucci's linearisation of the volatility view: E[x] = 0.02 and E[(x - 0.02)^2] = 0.3^2
    ref, r_ref = _reference(prior, [(x <= cut) * 1.0, y, x, (x - 0.02) ** 2], [0.15, 0.03, 0.02, 0.09],
                            [-x, (y > 0.2) * 1.0], [0.0, 0.02])
    # The package stops on its own tolerance (scipy's defaults on its objective x1000), with view residuals
    # of a few 1e-7 to 1.3e-6 on these seeds; ours, computed here from the rows, are below 1e-9.
    assert r_ref < 2e-6
    rows = np.stack([(x <= cut) - 0.15, y - 0.03, -x, (y > 0.2) - 0.02, x - 0.02, (x - 0.02) ** 2 - 0.09])
    np.testing.assert_array_equal(post.row_views, [0, 1, 2, 3, 4, 4])
    got = rows @ post.probabilities
    eq = np.array([True, True, False, False, True, True])
    assert np.abs(got[eq]).max() < 1e-9 and got[~eq].max() < 1e-9
    # A residual r moves the multipliers by about H^-1 r and log p by |c| H^-1 r: 20-60 r on these problems
    # (measured), so 1000 r_ref leaves a factor of 10 to 50.
    np.testing.assert_allclose(post.probabilities, ref, rtol=1000 * r_ref, atol=0)
    # Optimality, exactly: for our tilt p* = p0 exp(-m.c) / Z with m.E_p*[c] = 0, any q has
    # KL(q||p0) = KL(p*||p0) + KL(q||p*) - m.E_q[c], so KL(p*||p0) <= KL(q||p0) + m.E_q[c] for the reference.
    # (q = the reference normalised: its sum is off by its residual too)
    q = ref / ref.sum()
    kl_ref = float(np.sum(q * np.log(q / prior)))
    assert post.relative_entropy <= kl_ref + float(post.multipliers @ (rows @ q)) + 1e-12
    assert post.fits[4].posterior == pytest.approx(0.3, abs=1e-9)
    assert post.max_scaled_residual <= PoolConfig().tol


def test_inequalities_and_ranking_match_the_package_and_the_kkt_conditions():
    x, y, prior = _worlds(6)
    # the ranking pulls weight towards low x, the probability view away from the lowest: both bind
    views = [RankingView(("y", "x")), ProbabilityView("x", -0.2, 0.05, relation="<="), MeanView("x", 0.5, "<=")]
    post = entropy_pool(prior, views, {"x": x, "y": y})
    ref, r_ref = _reference(prior, [], [], [x - y, 1.0 * (x <= -0.2), x], [0.0, 0.05, 0.5])
    assert r_ref < 2e-6
    np.testing.assert_allclose(post.probabilities, ref, rtol=1000 * r_ref, atol=0)  # as in the test above
    # KKT by hand: log(p / p0) is a constant minus the multipliers times the binding rows, multipliers >= 0
    binding = [f for f in post.fits if f.binding]
    assert [f.label for f in binding] == [views[0].label, views[1].label]  # E[x] <= 0.5 is slack
    assert post.fits[2].multipliers == (0.0,)
    rows = np.stack([x - y, (x <= -0.2) - 0.05])
    m = np.array([binding[0].multipliers[0], binding[1].multipliers[0]])
    assert (m > 0).all()
    log_ratio = np.log(post.probabilities / prior) + m @ rows
    np.testing.assert_allclose(log_ratio, log_ratio.mean(), atol=1e-9)
    assert post.fits[0].posterior == pytest.approx(0.0, abs=1e-10)  # E[y] - E[x], the ranking binds


def test_volatility_view_holds_the_mean_of_an_equality_mean_view():
    x, _, prior = _worlds(7)
    post = entropy_pool(prior, [MeanView("x", 0.01), VolatilityView("x", 0.35, ">=")], {"x": x})
    p = post.probabilities
    assert p @ x == pytest.approx(0.01, abs=1e-10)
    assert np.sqrt(p @ (x - 0.01) ** 2) == pytest.approx(0.35, abs=1e-10)
    assert len(post.multipliers) == 2  # the shared mean row is kept once


def test_two_volatility_views_on_one_quantity_share_the_mean_row():
    x, _, _ = _worlds(8)
    post = entropy_pool(None, [VolatilityView("x", 0.4, ">="), VolatilityView("x", 0.6, "<=")], {"x": x})
    assert post.fits[0].posterior == pytest.approx(0.4, abs=1e-10)
    assert post.probabilities @ x == pytest.approx(np.mean(x), abs=1e-10)  # tol x the row's scale


def test_an_inequality_the_equalities_decide_is_dropped_or_refused():
    x, y, prior = _worlds(14)
    alone = entropy_pool(prior, [MeanView("x", 0.0), MeanView("y", 0.01)], {"x": x, "y": y})
    post = entropy_pool(prior, [MeanView("x", 0.0), MeanView("y", 0.01), MeanView("x", -0.1, ">=")],
                        {"x": x, "y": y})
    np.testing.assert_allclose(post.probabilities, alone.probabilities, rtol=1e-12)
    assert post.fits[2].multipliers == (0.0,) and not post.fits[2].binding
    with pytest.raises(InfeasibleViewsError, match=r"E\[x\] >= 0.05 and E\[x\] == 0: .* misses its bound by 0.05"):
        entropy_pool(prior, [MeanView("x", 0.0), MeanView("y", 0.01), MeanView("x", 0.05, ">=")],
                     {"x": x, "y": y})


def test_probability_zero_conditions_exactly():
    x, _, prior = _worlds(9)
    prior[:5] = 0.0
    post = entropy_pool(prior, [ProbabilityView("x", -0.1, 0.0)], {"x": x})
    keep = (x > -0.1) & (prior > 0)
    np.testing.assert_allclose(post.probabilities, np.where(keep, prior / prior[keep].sum(), 0.0), rtol=1e-12)
    assert post.excluded_worlds == int(((x <= -0.1) & (prior > 0)).sum())
    assert post.effective.support == int(keep.sum())


def test_zero_prior_worlds_stay_at_zero():
    x, _, prior = _worlds(10)
    prior[::3] = 0.0
    post = entropy_pool(prior, [MeanView("x", 0.0)], {"x": x})
    assert (post.probabilities[::3] == 0).all() and post.probabilities @ x == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("views", "error", "words"), [
    ([ProbabilityView("x", -5.0, 0.05)], InfeasibleViewsError, "no world has x <= -5"),
    ([ProbabilityView("x", 50.0, 0.05)], InfeasibleViewsError, "every world has x <= 50"),
    ([MeanView("x", 9.0)], InfeasibleViewsError, "largest x"),
    ([VolatilityView("x", 50.0)], InfeasibleViewsError, "largest possible sd"),
    ([ProbabilityView("x", 0.0, 0.2), ProbabilityView("x", 0.0, 0.3)], ViewError, "linearly dependent"),
    ([MeanView("x", 0.0), VolatilityView("x", 0.2, mean=0.1)], ViewError, "linearly dependent"),
    ([ProbabilityView("x", -0.1, 0.4, relation=">="), ProbabilityView("x", 0.0, 0.3, relation="<="),
      MeanView("y", 0.0)], InfeasibleViewsError, "cannot hold together"),
    ([MeanView("z", 0.0)], ViewError, "unknown quantity 'z'"),
    ([MeanView("bad", 0.0)], ViewError, "1 NaN/inf"),
])
def test_bad_views_raise_a_typed_error_naming_the_view(views, error, words):
    x, y, _ = _worlds(11)
    bad = x.copy()
    bad[3] = np.nan
    with pytest.raises(error) as info:
        entropy_pool(None, views, {"x": x, "y": y, "bad": bad})
    assert isinstance(info.value, ConfigError)
    assert words in str(info.value)
    if error is not InfeasibleViewsError or "together" not in words:
        assert views[0].label in str(info.value)
    else:  # the conflicting pair is named, the innocent mean view is not
        assert views[0].label in str(info.value) and views[1].label in str(info.value)
        assert views[2].label not in str(info.value)


@pytest.mark.parametrize(("make", "words"), [
    (lambda: ProbabilityView("x", -0.3, 1.2), "must lie in [0, 1]"),
    (lambda: ProbabilityView("x", float("nan"), 0.1), "threshold must be a finite number"),
    (lambda: MeanView("x", 0.0, "<"), "relation must be one of"),
    (lambda: VolatilityView("x", -0.1), "std must be > 0"),
    (lambda: RankingView(("x",)), "at least two distinct"),
])
def test_bad_view_values_are_refused_when_built(make, words):
    with pytest.raises(ViewError, match=words.replace("[", r"\[").replace("]", r"\]")):
        make()


def test_views_met_only_at_the_edge_are_refused_not_returned_half_solved():
    # x takes -1, 0, 1; P(x >= 0) = 0.5 with E[x] = 0 forces every world at 0 to weight 0: the dual has no
    # finite minimum (the multipliers run off to infinity while the rows become collinear on the worlds
    # still weighted), so there is no interior posterior to return
    x = np.repeat([-1.0, 0.0, 1.0], 10)
    views = [ProbabilityView("x", 0.0, 0.5, event=">="), MeanView("x", 0.0)]
    with pytest.raises(PoolingSolveError, match=r"P\(x >= 0\) == 0.5: .* edge of what these worlds allow"):
        entropy_pool(None, views, {"x": x})


def test_a_solver_that_misses_its_tolerance_raises_with_the_residuals():
    x, y, _ = _worlds(13)
    views = [ProbabilityView("x", -0.2, 0.1), MeanView("y", 0.0)]
    with pytest.raises(PoolingSolveError, match=r"residuals above tol=1e-30 \(P\(x <= -0.2\) == 0.1: "):
        entropy_pool(None, views, {"x": x, "y": y}, config=PoolConfig(tol=1e-30, max_newton=2))


def test_wrong_shapes_and_weights_are_config_errors():
    x, _, _ = _worlds(12)
    with pytest.raises(ViewError, match=r"one value per world"):
        entropy_pool(np.ones(10), [MeanView("x", 0.0)], {"x": x})
    with pytest.raises(ConfigError, match=r">= 0"):
        entropy_pool(-np.ones(x.size), [MeanView("x", 0.0)], {"x": x})
    with pytest.raises(ConfigError, match=r"at least one view"):
        entropy_pool(None, [], {"x": x})


def _rows(view, q):
    """A view's oriented rows c (E_p[c] == 0 or <= 0), written here from the docs, not from the code."""
    sign = -1.0 if view.relation == ">=" else 1.0
    if isinstance(view, ProbabilityView):
        x = q[view.quantity]
        inside = {"<": x < view.threshold, "<=": x <= view.threshold, ">": x > view.threshold,
                  ">=": x >= view.threshold}[view.event]
        return [(sign * (inside - view.probability), view.relation == "==")]
    if isinstance(view, MeanView):
        return [(sign * (q[view.quantity] - view.target), view.relation == "==")]
    if isinstance(view, VolatilityView):
        x = q[view.quantity]
        return [(x - view.mean, True), (sign * ((x - view.mean) ** 2 - view.std ** 2), view.relation == "==")]
    a, b = view.quantities
    return [(q[b] - q[a], view.relation == "==")]


def test_random_feasible_views_meet_the_kkt_conditions():
    # Views read off a random tilt t of the worlds hold strictly inside (t > 0), so a solution exists. KKT
    # conditions are sufficient for this convex problem: primal feasibility, log(p / p0) = const - m.c,
    # m >= 0 on inequalities and m_j E_p[c_j] = 0.
    for seed in range(40):
        g = np.random.default_rng(100 + seed)
        x, y, prior = _worlds(seed, n=200)
        z = g.uniform(-1, 1, x.size)
        q = {"x": x, "y": y, "z": z}
        t = np.exp(g.normal(0, 0.7) * x / x.std() + g.normal(0, 0.5) * z)
        t /= t.sum()
        views = []
        for name, kind, rel in zip(g.choice(["x", "y", "z"], 4), g.integers(0, 4, 4), g.choice(["==", "<=", ">="], 4)):
            v = q[name]
            if kind == 0:
                a = float(np.quantile(v, g.uniform(0.05, 0.95)))
                views.append(ProbabilityView(name, a, float(t @ (v <= a)), relation=rel))
            elif kind == 1:
                views.append(MeanView(name, float(t @ v), rel))
            elif kind == 2:
                mu = float(t @ v)
                views.append(VolatilityView(name, float(np.sqrt(t @ (v - mu) ** 2)), rel, mean=mu))
            else:
                views.append(RankingView(("x", "z") if t @ x >= t @ z else ("z", "x")))
        views = list(dict.fromkeys(views))  # a repeated equality would be refused as dependent
        post = entropy_pool(prior, views, q)
        assert post.iterations[0] == 0, seed  # Newton alone (docs/views.md says so)
        p = post.probabilities
        rows, is_eq, mult = [], [], []
        for j, v in enumerate(views):
            mine = _rows(v, q)
            if len(post.fits[j].multipliers) < len(mine):  # a volatility view whose mean row another view holds
                mine = mine[1:]
            for (c, eq), m in zip(mine, post.fits[j].multipliers, strict=True):
                rows.append(c)
                is_eq.append(eq)
                mult.append(m)
        rows, is_eq, mult = np.array(rows), np.array(is_eq), np.array(mult)
        e = rows @ p
        assert np.abs(e[is_eq]).max(initial=0) < 1e-9 and e[~is_eq].max(initial=-1) < 1e-9, seed
        assert (mult[~is_eq] >= 0).all() and np.abs(mult[~is_eq] * e[~is_eq]).max(initial=0) < 1e-9, seed
        log_ratio = np.log(p / prior) + mult @ rows
        np.testing.assert_allclose(log_ratio, log_ratio.mean(), atol=1e-8, err_msg=str(seed))


def test_the_worked_example_of_the_docs():
    ew = np.array([-0.45, -0.32, -0.18, -0.05, 0.02, 0.08, 0.12, 0.17, 0.25, 0.36])
    one = entropy_pool(None, [ProbabilityView("ew_return", -0.3, 0.3)], {"ew_return": ew})
    np.testing.assert_allclose(one.probabilities, [0.15, 0.15] + [0.0875] * 8, rtol=1e-12)
    assert one.effective.kish == pytest.approx(1 / (2 * 0.15 ** 2 + 8 * 0.0875 ** 2))
    post = entropy_pool(None, [ProbabilityView("ew_return", -0.3, 0.3), VolatilityView("ew_return", 0.3, ">=")],
                        {"ew_return": ew})
    np.testing.assert_allclose(post.probabilities, [0.1903, 0.1097, 0.0542, 0.0515, 0.0553, 0.0622, 0.0692,
                                                    0.0816, 0.1145, 0.2116], atol=5e-5)
    assert (round(post.relative_entropy, 4), round(post.effective.kish, 2), round(post.effective.entropy, 2)) \
        == (0.1349, 7.69, 8.74)
    assert post.probabilities @ ew == pytest.approx(0.0, abs=1e-12)
    assert np.sqrt(post.probabilities @ ew ** 2) == pytest.approx(0.3, abs=1e-12)
    np.testing.assert_allclose(post.multipliers, [-0.3826, -1.2436, 7.1119], atol=5e-5)


def test_a_stalled_newton_hands_over_to_lbfgsb_and_says_so(monkeypatch):
    # A stall is rare (none in the random problems above), so it is forced: the first Newton run stops after
    # one step and reports a stall; L-BFGS-B must then reach the same posterior, and the result must say so
    from stressgen.metrics import _dual

    x, y, prior = _worlds(15)
    views = [ProbabilityView("x", -0.2, 0.2), MeanView("y", 0.0, ">="), VolatilityView("x", 0.3)]
    want = entropy_pool(prior, views, {"x": x, "y": y})
    real, calls = _dual._newton, []

    def stalls_once(theta, c, eq, ub, logp0, tol, max_steps):
        calls.append(max_steps)
        if len(calls) == 1:
            theta, p, g, steps, _ = real(theta, c, eq, ub, logp0, tol, 1)
            return theta, p, g, steps, True
        return real(theta, c, eq, ub, logp0, tol, max_steps)

    monkeypatch.setattr(_dual, "_newton", stalls_once)
    got = entropy_pool(prior, views, {"x": x, "y": y})
    assert len(calls) == 2 and got.iterations[0] > 0
    np.testing.assert_allclose(got.probabilities, want.probabilities, rtol=1e-9)
