"""The distribution functions behind the claims, against scipy.stats as the oracle."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from dashboard.metrics.distributions import (
    binom_cdf,
    binom_lower_critical,
    binom_pmf,
    binom_sf,
    chi2_sf,
    norm_isf,
    norm_ppf,
)

# scipy.stats itself overflows (boost ibeta_derivative) for p below ~1e-300
probabilities = st.one_of(st.just(0.0), st.floats(1e-12, 1.0))
inner = st.floats(1e-9, 1 - 1e-9)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 5_000), k=st.integers(-3, 5_003), p=probabilities)
def test_binomial_cdf_sf_and_pmf_equal_scipy_stats(n: int, k: int, p: float) -> None:
    np.testing.assert_allclose(binom_cdf(k, n, p), stats.binom.cdf(k, n, p), rtol=1e-9,
                               atol=1e-300)
    np.testing.assert_allclose(binom_sf(k, n, p), stats.binom.sf(k, n, p), rtol=1e-9,
                               atol=1e-300)
    if 0 <= k <= n:
        np.testing.assert_allclose(binom_pmf(np.array([k]), n, p), stats.binom.pmf(k, n, p),
                                   rtol=1e-8, atol=1e-300)


@settings(max_examples=200, deadline=None)
@given(level=st.floats(1e-6, 0.25),  # alpha / 2 for any alpha up to 0.5
       n=st.lists(st.integers(0, 200_000), min_size=1, max_size=20))
def test_the_mcnemar_bound_is_the_largest_k_below_the_level(level: float, n: list[int]) -> None:
    """The largest k with P(X <= k) < level for X ~ Bin(n, 1/2) (-1 when there is none),
    checked exactly at k and k + 1 with scipy's cdf."""
    d = np.asarray(n)
    k = binom_lower_critical(level, d)
    assert np.all((k >= -1) & (k <= d))
    assert np.all((k < 0) | (stats.binom.cdf(k, d, 0.5) < level))
    assert np.all((k + 1 > d) | (stats.binom.cdf(k + 1, d, 0.5) >= level))


@given(x=st.floats(0, 500), df=st.integers(1, 60), p=inner)
def test_chi_square_and_normal_equal_scipy_stats(x: float, df: int, p: float) -> None:
    np.testing.assert_allclose(chi2_sf(x, df), stats.chi2.sf(x, df), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(norm_ppf(p), stats.norm.ppf(p), rtol=1e-12)
    np.testing.assert_allclose(norm_isf(p), stats.norm.isf(p), rtol=1e-12)


def test_drawing_the_dashboard_does_not_import_scipy_stats() -> None:
    """scipy.stats takes about a second to import: a page's first figure must not wait for
    it (the waterfall's mismatch advice and the explorer's resolution use scipy.special)."""
    code = ("import sys, tempfile, pathlib, dashboard\n"
            "from dashboard import Dashboard, Results\n"
            "from dashboard.io import read_sidecar\n"
            "f = pathlib.Path(dashboard.__file__).parent / 'data/demo/cat_results.parquet'\n"
            "m = read_sidecar(f)\n"
            "r = Results.from_file(f, human_level=m.get('human_level'), "
            "metadata=m.get('models'))\n"
            "d = Dashboard(r, store=tempfile.mkdtemp() + '/a.sqlite')\n"
            "assert d.waterfall.report is not None and d.explorer.point is not None\n"
            "print('scipy.stats' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
