"""The candidate families of a fit, each fitted over one design: weighted least squares for the
parametric ones (linear in the value, linear in its log10, quadratic on the domain's own scale),
a scikit-learn Gaussian process for the smooth one. Each returns its mean and 95 % band over a
grid, its leave-one-out error and its formula as text, or one line saying why it could not be fitted.

Pure numpy/scipy (scikit-learn imported when a Gaussian process is fitted);
:mod:`._fits` chooses the points and ranks the families.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from workbench_plugin._quiet import quiet

__all__ = ["Covariates", "Design", "FamilyFit", "fit_family", "NO_COVARIATES"]

_Z95 = 1.959963984540054
#: The extra noise variance (in units of the metric's variance) a point of weight w gets in the
#: Gaussian process: 0 at weight 1, about 1 at the smallest weight a drawn line gives (0.05).
_GP_WEIGHT_NOISE = 0.05


class Covariates(NamedTuple):
    """Other hyperparameters entering the fits, as columns (numeric: the value or its log10;
    categorical: one indicator per category but the first)."""

    labels: tuple[str, ...]  #: one per column, as the formula shows it: "batch_size", "[optimizer=sgd]"
    rows: np.ndarray  #: (points, columns) raw column values
    at: np.ndarray  #: (columns,) the values the curves are drawn at (the best experiment's)
    centers: np.ndarray  #: per column: subtracted, then divided by scales, before a least-squares fit
    scales: np.ndarray
    gp_rows: np.ndarray  #: (points, dims) the Gaussian process's inputs, each in about [0, 1]
    gp_at: np.ndarray
    at_text: str = ""  #: the best experiment's values of them, as "batch_size=32, optimizer=adam"
    names: tuple[str, ...] = ()  #: the hyperparameters behind the columns


NO_COVARIATES = Covariates((), np.zeros((0, 0)), np.zeros(0), np.zeros(0), np.ones(0), np.zeros((0, 0)), np.zeros(0))


class Design(NamedTuple):
    """What every family is fitted on: the points with a positive weight."""

    name: str  #: the hyperparameter
    metric: str
    log: bool  #: the domain's scale is log10
    x: np.ndarray  #: the hyperparameter, in its own units
    y: np.ndarray
    w: np.ndarray  #: > 0
    grid: np.ndarray  #: where curves are evaluated, in the hyperparameter's units
    span: tuple[float, float]  #: the grid's ends on the domain's scale (the GP's [0, 1])
    cov: Covariates


class FamilyFit(NamedTuple):
    ok: bool
    message: str
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    cv_rmse: float
    formula: str
    errors: np.ndarray  #: each point's leave-one-out residual


_EMPTY = np.zeros(0)


def _fail(message: str) -> FamilyFit:
    return FamilyFit(False, message, _EMPTY, _EMPTY, _EMPTY, math.nan, "", _EMPTY)


def _g(v: float, digits: int = 3) -> str:
    text = f"{v:.{digits}g}"
    return "0" if text in ("-0", "0") else text


def scale_label(name: str, log: bool) -> str:
    return f"log10({name})" if log else name


def variable(family: str, design: Design) -> str:
    """The variable a family is a function of, as its formula writes it."""
    if family == "linear":
        return design.name
    if family == "log":
        return f"log10({design.name})"
    return scale_label(design.name, design.log)


def _on_scale(family: str, x: np.ndarray, log: bool) -> np.ndarray:
    if family == "log" or (family in ("quadratic", "gp") and log):
        return np.log10(x)
    return np.asarray(x, dtype=float)


def _wls(a: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    root = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(a * root[:, None], y * root, rcond=None)
    return np.asarray(beta, dtype=float)


def _terms(coefs: list[tuple[float, str]]) -> str:
    """``a + b v - c v^2`` from (coefficient, term) pairs, the constant's term being ""."""
    out = ""
    for k, (c, term) in enumerate(coefs):
        text = _g(abs(c))
        body = f"{text} {term}".strip() if term else text
        if k == 0:
            out = f"-{body}" if c < 0 and text != "0" else body
        else:
            out += f" {'-' if c < 0 else '+'} {body}"
    return out


def _parametric(family: str, design: Design) -> FamilyFit:
    n = len(design.y)
    degree = 2 if family == "quadratic" else 1
    base = degree + 1
    k = len(design.cov.labels)
    p = base + k
    name = design.name
    if family == "log" and (design.x <= 0).any():
        bad = int((design.x <= 0).sum())
        return _fail(f"log: needs {name} > 0 at every point; {bad} have {name} <= 0")
    if family == "log" and design.grid.min() <= 0:
        return _fail(f"log: {name}'s range starts at {_g(float(design.grid.min()))}; a log fit needs {name} > 0")
    distinct = len(np.unique(design.x))
    if distinct < base:
        return _fail(f"{family}: {distinct} distinct values of {name} for {p} parameters; "
                     f"try at least {base} values")
    if n < p + 1:
        return _fail(f"{family}: {n} points for {p} parameters; needs at least {p + 1} finished experiments")
    v = _on_scale(family, design.x, design.log)
    m, s = float(np.average(v, weights=design.w)), float(np.ptp(v)) / 2 or 1.0

    def matrix(vals: np.ndarray, cov_rows: np.ndarray) -> np.ndarray:
        u = (vals - m) / s
        cols = [np.ones_like(u), u] + ([u * u] if degree == 2 else [])
        z = (cov_rows - design.cov.centers) / design.cov.scales
        return np.column_stack([*cols, z]) if k else np.column_stack(cols)

    a = matrix(v, design.cov.rows)
    if np.linalg.matrix_rank(a) < p:
        return _fail(f"{family}: {name} and the covariates {', '.join(design.cov.labels)} cannot be told apart "
                     f"with these {n} experiments; hold them or try more combinations")
    errors = np.empty(n)
    for i in range(n):
        keep = np.arange(n) != i
        if np.linalg.matrix_rank(a[keep]) < p:
            return _fail(f"{family}: leaving one experiment out leaves too few distinct values to determine "
                         f"{p} parameters; needs more experiments")
        errors[i] = design.y[i] - a[i] @ _wls(a[keep], design.y[keep], design.w[keep])
    cv = math.sqrt(float(np.sum(design.w * errors**2) / np.sum(design.w)))
    beta = _wls(a, design.y, design.w)
    resid = design.y - a @ beta
    dof = n - p
    s2 = float(np.sum(design.w * resid**2)) / dof
    from scipy.stats import t as student

    aw = a * np.sqrt(design.w)[:, None]
    cov_beta = s2 * np.linalg.pinv(aw.T @ aw)
    g = matrix(_on_scale(family, design.grid, design.log),
               np.broadcast_to(design.cov.at, (len(design.grid), k)))
    mean = g @ beta
    half = float(student.ppf(0.975, dof)) * np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", g, cov_beta, g), 0.0))
    return FamilyFit(True, "", mean, mean - half, mean + half, cv, _formula(family, design, beta, m, s), errors)


def _formula(family: str, design: Design, beta: np.ndarray, m: float, s: float) -> str:
    base = 3 if family == "quadratic" else 2
    poly = np.polynomial.Polynomial(beta[:base])(np.polynomial.Polynomial([-m / s, 1 / s]))
    coefs = list(poly.coef) + [0.0] * (base - len(poly.coef))
    var = variable(family, design)
    pairs = [(float(coefs[0]), ""), (float(coefs[1]), var)]
    if base == 3:
        pairs.append((float(coefs[2]), f"{var}^2"))
    cov = design.cov
    for j, label in enumerate(cov.labels):
        b = float(beta[base + j]) / float(cov.scales[j])
        pairs[0] = (pairs[0][0] - b * float(cov.centers[j]), "")
        pairs.append((b, label))
    return f"{design.metric} = {_terms(pairs)}"


def _gp(design: Design) -> FamilyFit:
    n = len(design.y)
    name = design.name
    distinct = len(np.unique(design.x))
    if n < 4:
        return _fail(f"gp: {n} points; needs at least 4 finished experiments")
    if distinct < 3:
        return _fail(f"gp: {distinct} distinct values of {name}; try at least 3 values")
    from scipy.linalg import cho_solve, solve_triangular
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    lo, hi = design.span
    width = (hi - lo) or 1.0

    def inputs(x: np.ndarray, cov_rows: np.ndarray) -> np.ndarray:
        u = (_on_scale("gp", x, design.log) - lo) / width
        return np.column_stack([u, cov_rows]) if cov_rows.shape[1] else u[:, None]

    xs = inputs(design.x, design.cov.gp_rows)
    centre, spread = float(np.mean(design.y)), float(np.std(design.y)) or 1.0
    yn = (design.y - centre) / spread
    dims = xs.shape[1]
    kernel = (ConstantKernel(1.0, (1e-3, 1e3))
              * Matern(length_scale=np.full(dims, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5)
              + WhiteKernel(noise_level=1e-2, noise_level_bounds=(1e-6, 1.0)))
    alpha = 1e-8 + _GP_WEIGHT_NOISE * (1.0 / design.w - 1.0)
    model = GaussianProcessRegressor(kernel=kernel, alpha=alpha, normalize_y=False, n_restarts_optimizer=2,
                                     random_state=np.random.RandomState(0))
    try:
        with quiet(ConvergenceWarning):  # bounds reached with few points are expected; the fit is still usable
            model.fit(xs, yn)
    except (np.linalg.LinAlgError, ValueError) as exc:
        return _fail(f"gp: the Gaussian process could not be fitted ({str(exc).splitlines()[0][:80]})")
    chol = model.L_
    k_inv = cho_solve((chol, True), np.eye(n))
    loo = model.alpha_ / np.diag(k_inv) * spread  # Rasmussen & Williams (5.12), at the fitted hyperparameters
    cv = math.sqrt(float(np.sum(design.w * loo**2) / np.sum(design.w)))
    latent = model.kernel_.k1  # the smooth part, without the white noise
    grid_x = inputs(design.grid, np.broadcast_to(design.cov.gp_at, (len(design.grid), len(design.cov.gp_at))))
    k_star = latent(grid_x, xs)
    mean = centre + spread * (k_star @ model.alpha_)
    v = solve_triangular(chol, k_star.T, lower=True)
    var = np.maximum(latent.diag(grid_x) - np.sum(v * v, axis=0), 0.0)
    half = _Z95 * spread * np.sqrt(var)
    params = model.kernel_.get_params()
    length = np.atleast_1d(params["k1__k2__length_scale"])[0]
    noise = math.sqrt(float(params["k2__noise_level"])) * spread
    inputs_text = ", ".join([scale_label(name, design.log), *design.cov.labels])
    formula = (f"{design.metric} ~ Gaussian process in {inputs_text} (Matern 5/2 + noise; "
               f"length scale {_g(float(length) * width)} in {scale_label(name, design.log)}, noise sd {_g(noise)})")
    return FamilyFit(True, "", mean, mean - half, mean + half, cv, formula, loo)


def fit_family(family: str, design: Design) -> FamilyFit:
    """Fit one of :data:`~._types.FAMILIES` on ``design``; a failed fit says why in one line."""
    if family == "gp":
        return _gp(design)
    return _parametric(family, design)
