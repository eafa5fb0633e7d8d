"""Weighted least squares on the matched sample with the matching design's robust variance.

The difference of weighted means is the coefficient of a WLS regression of the outcome on group
membership with the matching weights; :func:`_fit_wls` fits it (or any design matrix, such as
the regression adjustment's) and returns the covariance the design calls for, as described in
:mod:`helpers.estimate`: CR1 clustered on matched set (``"sets"``), two-way clustered on
matched set and person for stacked matched sets (``"pairs"``; Cameron, Gelbach & Miller 2011,
*JBES* 29:238), or HC1 on people (``"units"``). Parity with R's ``sandwich::vcovCL`` is tested.
Inference uses the t distribution with G - 1 degrees of freedom for G clusters (Cameron &
Miller 2015, *J Human Resources* 50:317).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from helpers.errors import ModelError

__all__: list[str] = []

_VARIANCE = {
    "sets": "cluster-robust (CR1) on matched sets",
    "pairs": "two-way cluster-robust on matched set and person (stacked matched sets)",
    "units": "heteroskedasticity-robust (HC1) on people; matched-set correlation ignored",
}


@dataclass(frozen=True)
class _Fit:
    params: np.ndarray
    cov: np.ndarray
    df: float
    n_clusters: int


def _psd(cov: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues, which two-way clustering can produce (Cameron et al. 2011)."""
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    return cov if vals.min() >= 0 else (vecs * np.clip(vals, 0, None)) @ vecs.T


def _fit_wls(frame: pd.DataFrame, X: np.ndarray, design: str) -> _Fit:
    """WLS with the design's robust covariance (statsmodels; parity with sandwich::vcovCL)."""
    model = sm.WLS(frame["y"].to_numpy(float), X, weights=frame["w"].to_numpy(float))
    if design == "units":
        res = model.fit(cov_type="HC1")
        return _Fit(res.params, res.cov_params(), len(frame) - X.shape[1], len(frame))
    codes = [pd.factorize(frame["set"])[0]]
    if design == "pairs":
        codes.append(pd.factorize(frame["unit"])[0])
    n_clusters = min(int(c.max()) + 1 for c in codes)
    if n_clusters < 2:
        raise ModelError(
            f"only {n_clusters} matched set(s) in the data: cluster-robust errors need several",
            fix="Check the subclass column of the matched sample.",
        )
    groups = codes[0] if len(codes) == 1 else np.column_stack(codes)
    res = model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    return _Fit(res.params, _psd(np.asarray(res.cov_params())), n_clusters - 1, n_clusters)


def _inference(est: float, se: float, df: float, conf_level: float) -> tuple[float, ...]:
    """t statistic, two-sided p-value and confidence limits on ``df`` degrees of freedom."""
    if not (se > 0 and math.isfinite(se)):
        return math.nan, math.nan, math.nan, math.nan
    crit = stats.t.ppf(0.5 + conf_level / 2, df)
    stat = est / se
    return stat, float(2 * stats.t.sf(abs(stat), df)), est - crit * se, est + crit * se


def _ratio(m1: float, m0: float, cov: np.ndarray, df: float, conf: float) -> tuple[float, ...]:
    """Ratio of group means with a delta-method interval on the log scale."""
    if not (m1 > 0 and m0 > 0):
        return math.nan, math.nan, math.nan
    grad = np.array([1 / m1, -1 / m0])
    se = math.sqrt(max(grad @ cov @ grad, 0.0))
    crit = stats.t.ppf(0.5 + conf / 2, df)
    return m1 / m0, math.exp(math.log(m1 / m0) - crit * se), math.exp(math.log(m1 / m0) + crit * se)
