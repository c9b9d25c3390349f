r"""Evaluation metrics of Tsai et al. (2021), plus RMSE.

All metrics compare a simulation ``y`` (``sim``) with observations ``y*`` (``obs``)
along a time axis and return one value per site. Only *valid pairs* are used: a time
step where either ``sim`` or ``obs`` is NaN/inf is skipped. Means (``ȳ``, ``ȳ*``) and
standard deviations (``σ``) are taken over the valid pairs of each site.

=========  =====================================================================
bias       mean(y − y*)                                     [unit of input]
rmse       sqrt(mean((y − y*)²))                            [unit of input]
ubrmse     sqrt(mean(((y − ȳ) − (y* − ȳ*))²))               [unit of input]
corr       Pearson r = Σ(y − ȳ)(y* − ȳ*) / sqrt(Σ(y − ȳ)² Σ(y* − ȳ*)²)   [-]
nse        1 − Σ(y − y*)² / Σ(y* − ȳ*)²                     [-]
kge        1 − sqrt((r − 1)² + (β − 1)² + (γ − 1)²),  Kling et al. (2012):
           β = ȳ/ȳ*,  γ = (σ/ȳ)/(σ*/ȳ*)                      [-]
fhv        100 · Σ_h (QS_h − QO_h) / Σ_h QO_h               [%]
flv        −100 · [Σ_l (ln QS_l − ln QS_min) − Σ_l (ln QO_l − ln QO_min)]
                  / Σ_l (ln QO_l − ln QO_min)               [%]
=========  =====================================================================

Conventions
-----------
* Standard deviations are *population* standard deviations (ddof=0), as in HydroErr's
  ``kge_2012`` and hydroeval's ``kgeprime`` (both use ``np.std`` with its default ddof=0).
* FHV/FLV (Yilmaz et al. 2008): ``sim`` and ``obs`` valid flows are sorted
  *separately* (flow-duration curves). The high segment is the ``k = max(1,
  floor(h·n))`` largest flows (``n`` valid pairs), i.e. ranks with exceedance
  probability ``i/n ≤ h``; the low segment is the ``k = max(1, floor(l·n))`` smallest
  flows. For FLV, flows are clipped to :data:`LOG_FLOOR` (1e-6, unit of the input)
  before taking natural logs, so zero or negative flows are allowed.
* A site with fewer than 2 valid pairs, or whose result would need a division by a
  zero quantity (zero observed variance for NSE, zero mean / std for KGE, zero
  variance for corr, zero low/high-segment denominators for FHV/FLV), gives NaN. No
  exceptions and no numpy warnings are raised for such sites. A variance counts as
  zero when it is below ``(16·eps·max|x|)²`` (round-off of a constant series).

Inputs
------
Each metric has the signature ``metric(sim, obs, axis=-1, *, dim=None)``:

* numpy arrays (or anything ``np.asarray`` accepts): time along ``axis``; returns a
  numpy array (a numpy scalar for 1-D input) with that axis removed.
* torch tensors: computed with torch ops only, so the result is differentiable with
  respect to ``sim`` (usable as a training loss); returns a tensor. Masked entries are
  zeroed *before* any nonlinear op and square roots/divisions are guarded, so NaNs in
  ``obs`` (or degenerate sites) never produce NaN gradients for valid entries.
* xarray DataArrays: reduced over ``dim`` (default ``"time"``; ``axis`` is ignored);
  returns a DataArray over the remaining dimensions with their coordinates.

``sim`` and ``obs`` are broadcast against each other.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = [
    "LOG_FLOOR",
    "METRICS",
    "MetricInfo",
    "bias",
    "corr",
    "evaluate",
    "fhv",
    "flv",
    "kge",
    "nse",
    "rmse",
    "ubrmse",
]

#: Floor (unit of the input flows) applied before taking logs in :func:`flv`.
LOG_FLOOR = 1e-6

#: A variance ``v`` is treated as zero when ``v <= (_ZERO_VAR_FACTOR*eps*max|x|)**2``.
_ZERO_VAR_FACTOR = 16.0


# --------------------------------------------------------------------------- backends
class _NumpyBackend:
    name = "numpy"

    @staticmethod
    def where(cond, a, b):
        return np.where(cond, a, b)

    @staticmethod
    def full(x, v):
        return np.full_like(x, v)

    @staticmethod
    def sqrt(x):
        return np.sqrt(x)

    @staticmethod
    def log(x):
        return np.log(x)

    @staticmethod
    def sum(x):
        return np.sum(x, axis=-1)

    @staticmethod
    def amax(x):
        return np.max(x, axis=-1) if x.shape[-1] else np.zeros(x.shape[:-1], x.dtype)

    @staticmethod
    def abs(x):
        return np.abs(x)

    @staticmethod
    def isfinite(x):
        return np.isfinite(x)

    @staticmethod
    def clip_min(x, lo):
        return np.maximum(x, lo)

    @staticmethod
    def sort(x, descending=False):
        out = np.sort(x, axis=-1)
        return out[..., ::-1] if descending else out

    @staticmethod
    def count(mask):
        return np.sum(mask, axis=-1)

    @staticmethod
    def seg_len(frac, n):
        # max(1, floor(frac*n)); tiny epsilon so that e.g. 0.3*10 -> 3 robustly
        return np.maximum(1, np.floor(frac * n + 1e-9).astype(np.int64))

    @staticmethod
    def arange_like(x):
        return np.arange(x.shape[-1])

    @staticmethod
    def eps(x):
        return float(np.finfo(x.dtype).eps)

    @staticmethod
    def detach(x):
        return x

    @staticmethod
    def as_float(mask, like):
        return mask.astype(like.dtype)

    @staticmethod
    def finish(x):
        x = np.asarray(x)
        return x[()] if x.ndim == 0 else x


class _TorchBackend:
    name = "torch"

    def __init__(self, torch):
        self.t = torch

    def where(self, cond, a, b):
        return self.t.where(cond, a, b)

    def full(self, x, v):
        return self.t.full_like(x, v)

    def sqrt(self, x):
        return self.t.sqrt(x)

    def log(self, x):
        return self.t.log(x)

    def sum(self, x):
        return self.t.sum(x, dim=-1)

    def amax(self, x):
        if x.shape[-1] == 0:
            return self.t.zeros(x.shape[:-1], dtype=x.dtype, device=x.device)
        return self.t.amax(x, dim=-1)

    def abs(self, x):
        return self.t.abs(x)

    def isfinite(self, x):
        return self.t.isfinite(x)

    def clip_min(self, x, lo):
        return self.t.clamp(x, min=lo)

    def sort(self, x, descending=False):
        return self.t.sort(x, dim=-1, descending=descending).values

    def count(self, mask):
        return self.t.sum(mask, dim=-1)

    def seg_len(self, frac, n):
        k = self.t.floor(frac * n.to(self.t.float64) + 1e-9).to(self.t.int64)
        return self.t.clamp(k, min=1)

    def arange_like(self, x):
        return self.t.arange(x.shape[-1], device=x.device)

    def eps(self, x):
        return float(self.t.finfo(x.dtype).eps)

    def detach(self, x):
        return x.detach()

    def as_float(self, mask, like):
        return mask.to(like.dtype)

    @staticmethod
    def finish(x):
        return x


_NP = _NumpyBackend()


def _is_torch(x) -> bool:
    torch = sys.modules.get("torch")  # never import torch just to check a type
    return torch is not None and isinstance(x, torch.Tensor)


def _is_xarray(x) -> bool:
    return type(x).__module__.startswith("xarray") and hasattr(x, "dims")


def _np_float(x) -> np.ndarray:
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


# --------------------------------------------------------------------------- dispatch
def _run(core: Callable, sim, obs, axis: int, dim: str | None, name: str, **kw):
    """Convert inputs, move time to the last axis, call ``core(B, s, o, **kw)``."""
    if _is_xarray(sim) or _is_xarray(obs):
        return _run_xarray(core, sim, obs, dim or "time", name, **kw)
    if dim is not None:
        raise ValueError("`dim` is only supported for xarray inputs; use `axis` instead")
    if _is_torch(sim) or _is_torch(obs):
        import torch

        ref = sim if _is_torch(sim) else obs
        dtype = ref.dtype if ref.is_floating_point() else torch.float64
        s = torch.as_tensor(sim, device=ref.device)
        o = torch.as_tensor(obs, device=ref.device)
        for x in (s, o):
            if x.is_floating_point():
                dtype = torch.promote_types(dtype, x.dtype)
        s, o = torch.broadcast_tensors(s.to(dtype), o.to(dtype))
        if s.ndim == 0:
            raise ValueError("inputs must have a time axis")
        s, o = torch.movedim(s, axis, -1), torch.movedim(o, axis, -1)
        B: Any = _TorchBackend(torch)
        out = core(B, s, o, **kw)
    else:
        s, o = _np_float(sim), _np_float(obs)
        dtype = np.result_type(s.dtype, o.dtype)
        s, o = np.broadcast_arrays(s.astype(dtype, copy=False), o.astype(dtype, copy=False))
        if s.ndim == 0:
            raise ValueError("inputs must have a time axis")
        s, o = np.moveaxis(s, axis, -1), np.moveaxis(o, axis, -1)
        B = _NP
        with np.errstate(all="ignore"):
            out = core(B, s, o, **kw)
    if isinstance(out, dict):
        return {k: B.finish(v) for k, v in out.items()}
    return B.finish(out)


def _run_xarray(core: Callable, sim, obs, dim: str, name: str, **kw):
    import xarray as xr

    if not isinstance(sim, xr.DataArray):
        sim = xr.DataArray(np.asarray(sim), dims=obs.dims, coords=obs.coords)
    if not isinstance(obs, xr.DataArray):
        obs = xr.DataArray(np.asarray(obs), dims=sim.dims, coords=sim.coords)
    # exact: mismatching time/basin labels are an error rather than a silent subset
    sim, obs = xr.align(sim, obs, join="exact")
    sim, obs = xr.broadcast(sim, obs)
    if dim not in sim.dims:
        raise ValueError(f"dimension {dim!r} not in {sim.dims}")
    sim = sim.transpose(..., dim)
    obs = obs.transpose(*sim.dims)
    s, o = _np_float(sim.values), _np_float(obs.values)
    dtype = np.result_type(s.dtype, o.dtype)
    with np.errstate(all="ignore"):
        out = core(_NP, s.astype(dtype, copy=False), o.astype(dtype, copy=False), **kw)
    rest = sim.dims[:-1]
    coords = {k: c for k, c in sim.coords.items() if dim not in c.dims}

    def wrap(v, nm):
        return xr.DataArray(np.asarray(v), dims=rest, coords=coords, name=nm)

    if isinstance(out, dict):
        return {k: wrap(v, k if k == name else f"{name}_{k}") for k, v in out.items()}
    return wrap(out, name)


# --------------------------------------------------------------------------- helpers
def _safe_div(B, num, den, ok):
    """num/den where ``ok & den != 0``, NaN elsewhere; no inf/NaN in unused branch."""
    ok = ok & (den != 0)
    q = num / B.where(ok, den, B.full(den, 1))
    return B.where(ok, q, B.full(q, math.nan))


def _safe_sqrt(B, x):
    """sqrt with a zero (not inf/NaN) gradient at x <= 0; returns 0 there."""
    pos = x > 0
    r = B.sqrt(B.where(pos, x, B.full(x, 1)))
    return B.where(pos, r, B.full(r, 0))


@dataclass
class _Stats:
    mask: Any
    n: Any  # float count of valid pairs
    ok: Any  # n >= 2
    s0: Any  # sim with invalid entries set to 0
    o0: Any
    ms: Any  # means over valid pairs (0 where not ok)
    mo: Any
    ds: Any  # deviations from mean, 0 at invalid entries
    do: Any
    vs: Any  # population variances (ddof=0)
    vo: Any
    vs_zero: Any  # variance numerically zero
    vo_zero: Any
    ms_zero: Any  # mean numerically zero: within rounding (16 eps sqrt(n) of the largest |value|) of 0
    mo_zero: Any


def _stats(B, s, o) -> _Stats:
    mask = B.isfinite(s) & B.isfinite(o)
    n = B.as_float(B.count(mask), s)
    ok = n >= 2
    n_safe = B.where(ok, n, B.full(n, 1))
    zero = B.full(s, 0)
    s0 = B.where(mask, s, zero)
    o0 = B.where(mask, o, zero)
    ms = B.sum(s0) / n_safe
    mo = B.sum(o0) / n_safe
    ds = B.where(mask, s0 - ms[..., None], zero)
    do = B.where(mask, o0 - mo[..., None], zero)
    vs = B.sum(ds * ds) / n_safe
    vo = B.sum(do * do) / n_safe
    tol = _ZERO_VAR_FACTOR * B.eps(s)
    vs_zero = B.detach(vs) <= (tol * B.amax(B.abs(B.detach(s0)))) ** 2
    vo_zero = B.detach(vo) <= (tol * B.amax(B.abs(B.detach(o0)))) ** 2
    rounding = tol * _safe_sqrt(B, B.detach(n))  # a sum's rounding error grows like sqrt(n) ulps
    ms_zero = B.abs(B.detach(ms)) <= rounding * B.amax(B.abs(B.detach(s0)))
    mo_zero = B.abs(B.detach(mo)) <= rounding * B.amax(B.abs(B.detach(o0)))
    return _Stats(mask, n, ok, s0, o0, ms, mo, ds, do, vs, vo, vs_zero, vo_zero, ms_zero, mo_zero)


def _nan_where_not(B, ok, x):
    return B.where(ok, x, B.full(x, math.nan))


# --------------------------------------------------------------------------- cores
def _bias_core(B, s, o):
    st = _stats(B, s, o)
    n_safe = B.where(st.ok, st.n, B.full(st.n, 1))
    return _nan_where_not(B, st.ok, B.sum(st.s0 - st.o0) / n_safe)


def _rmse_core(B, s, o):
    st = _stats(B, s, o)
    n_safe = B.where(st.ok, st.n, B.full(st.n, 1))
    e = st.s0 - st.o0
    return _nan_where_not(B, st.ok, _safe_sqrt(B, B.sum(e * e) / n_safe))


def _ubrmse_core(B, s, o):
    st = _stats(B, s, o)
    n_safe = B.where(st.ok, st.n, B.full(st.n, 1))
    e = st.ds - st.do
    return _nan_where_not(B, st.ok, _safe_sqrt(B, B.sum(e * e) / n_safe))


def _corr_from(B, st):
    cov = B.sum(st.ds * st.do)
    den = _safe_sqrt(B, B.sum(st.ds * st.ds)) * _safe_sqrt(B, B.sum(st.do * st.do))
    return _safe_div(B, cov, den, st.ok & ~st.vs_zero & ~st.vo_zero)


def _corr_core(B, s, o):
    return _corr_from(B, _stats(B, s, o))


def _nse_core(B, s, o):
    st = _stats(B, s, o)
    e = st.s0 - st.o0
    num = B.sum(e * e)
    den = B.sum(st.do * st.do)
    ok = st.ok & ~st.vo_zero
    return 1 - _safe_div(B, num, den, ok)


def _kge_core(B, s, o, return_components=False):
    st = _stats(B, s, o)
    r = _corr_from(B, st)
    beta = _safe_div(B, st.ms, st.mo, st.ok & ~st.mo_zero)
    sd_s = _safe_sqrt(B, st.vs)
    sd_o = _safe_sqrt(B, st.vo)
    ok_g = st.ok & ~st.ms_zero & ~st.mo_zero & ~st.vo_zero
    cv_s = _safe_div(B, sd_s, st.ms, ok_g)
    cv_o = _safe_div(B, sd_o, st.mo, ok_g)
    gamma = _safe_div(B, cv_s, cv_o, ok_g)
    ok = ok_g & B.isfinite(B.detach(r))
    r_ = B.where(ok, r, B.full(r, 0))
    b_ = B.where(ok, beta, B.full(beta, 0))
    g_ = B.where(ok, gamma, B.full(gamma, 0))
    ed = _safe_sqrt(B, (r_ - 1) ** 2 + (b_ - 1) ** 2 + (g_ - 1) ** 2)
    val = _nan_where_not(B, ok, 1 - ed)
    if return_components:
        return {"kge": val, "r": r, "beta": beta, "gamma": gamma}
    return val


def _segments(B, s, o, frac, descending):
    """Separately sorted valid sim/obs flows, the segment selector and validity."""
    mask = B.isfinite(s) & B.isfinite(o)
    n = B.count(mask)
    fill = -math.inf if descending else math.inf
    zero = B.full(s, 0)
    ss = B.sort(B.where(mask, s, zero + fill), descending=descending)
    oo = B.sort(B.where(mask, o, zero + fill), descending=descending)
    k = B.seg_len(frac, n)
    take = B.arange_like(s) < k[..., None]
    ss = B.where(take, ss, zero)  # drop the +-inf fill before any arithmetic
    oo = B.where(take, oo, zero)
    return ss, oo, take, n >= 2


def _fhv_core(B, s, o, h=0.02):
    ss, oo, take, ok = _segments(B, s, o, h, descending=True)
    return 100 * _safe_div(B, B.sum(ss - oo), B.sum(oo), ok)


def _flv_core(B, s, o, l=0.3):  # noqa: E741
    ss, oo, take, ok = _segments(B, s, o, l, descending=False)
    one = B.full(ss, 1)
    ls = B.log(B.clip_min(B.where(take, ss, one), LOG_FLOOR))
    lo = B.log(B.clip_min(B.where(take, oo, one), LOG_FLOOR))
    zero = B.full(ss, 0)
    sum_s = B.sum(B.where(take, ls - ls[..., :1], zero))  # index 0 = segment minimum
    sum_o = B.sum(B.where(take, lo - lo[..., :1], zero))
    return -100 * _safe_div(B, sum_s - sum_o, sum_o, ok)


def _check_frac(name, x):
    if not 0 < x <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {x}")


# --------------------------------------------------------------------------- public API
def bias(sim, obs, axis: int = -1, *, dim: str | None = None):
    """Mean error ``mean(sim − obs)`` over valid pairs. Unit: same unit as the input."""
    return _run(_bias_core, sim, obs, axis, dim, "bias")


def rmse(sim, obs, axis: int = -1, *, dim: str | None = None):
    """Root-mean-square error ``sqrt(mean((sim − obs)²))``. Unit: same unit as the input."""
    return _run(_rmse_core, sim, obs, axis, dim, "rmse")


def ubrmse(sim, obs, axis: int = -1, *, dim: str | None = None):
    """Unbiased RMSE ``sqrt(mean(((y − ȳ) − (y* − ȳ*))²))``. Unit: same unit as the input.

    Satisfies ``rmse² = bias² + ubrmse²``.
    """
    return _run(_ubrmse_core, sim, obs, axis, dim, "ubrmse")


def corr(sim, obs, axis: int = -1, *, dim: str | None = None):
    """Pearson correlation coefficient. Dimensionless, in [-1, 1]; NaN if a series is constant."""
    return _run(_corr_core, sim, obs, axis, dim, "corr")


def nse(sim, obs, axis: int = -1, *, dim: str | None = None):
    """Nash–Sutcliffe efficiency ``1 − Σ(y − y*)² / Σ(y* − ȳ*)²``. Dimensionless, ≤ 1.

    NaN where the observed variance is zero.
    """
    return _run(_nse_core, sim, obs, axis, dim, "nse")


def kge(sim, obs, axis: int = -1, *, dim: str | None = None, return_components: bool = False):
    """Kling–Gupta efficiency, Kling et al. (2012) form (KGE'). Dimensionless, ≤ 1.

    ``KGE = 1 − sqrt((r − 1)² + (β − 1)² + (γ − 1)²)`` with Pearson ``r``,
    ``β = μs/μo`` and ``γ = (σs/μs)/(σo/μo)``; ``σ`` is the population std (ddof=0).
    With ``return_components=True`` returns ``{"kge", "r", "beta", "gamma"}``.
    NaN where ``μo``, ``μs`` or ``σo`` is zero -- or within float rounding of zero (16 eps
    sqrt(n) of the largest |value|), where β and γ would be rounding noise -- or ``r`` is undefined.
    """
    return _run(_kge_core, sim, obs, axis, dim, "kge", return_components=return_components)


def fhv(sim, obs, axis: int = -1, *, dim: str | None = None, h: float = 0.02):
    """High-segment volume bias (Yilmaz et al. 2008), in percent.

    ``100 · Σ(QS_h − QO_h) / Σ QO_h`` over the ``max(1, floor(h·n))`` largest valid
    flows of ``sim`` and ``obs``, each sorted separately (flow-duration curves).
    """
    _check_frac("h", h)
    return _run(_fhv_core, sim, obs, axis, dim, "fhv", h=h)


def flv(sim, obs, axis: int = -1, *, dim: str | None = None, l: float = 0.3):  # noqa: E741
    """Low-segment volume bias (Yilmaz et al. 2008), in percent.

    On the ``max(1, floor(l·n))`` smallest valid flows (sorted separately), with flows
    clipped to :data:`LOG_FLOOR` (1e-6) before the natural log::

        −100 · [Σ(ln QS − ln QS_min) − Σ(ln QO − ln QO_min)] / Σ(ln QO − ln QO_min)

    NaN when the observed low segment is flat (denominator zero).
    """
    _check_frac("l", l)
    return _run(_flv_core, sim, obs, axis, dim, "flv", l=l)


@dataclass(frozen=True)
class MetricInfo:
    """Registry entry: the metric function, a one-line description, unit, best value."""

    func: Callable
    description: str
    unit: str
    best: float


METRICS: dict[str, MetricInfo] = {
    "bias": MetricInfo(bias, "mean error mean(sim - obs)", "same unit as the input", 0.0),
    "corr": MetricInfo(corr, "Pearson correlation coefficient", "dimensionless", 1.0),
    "rmse": MetricInfo(rmse, "root-mean-square error", "same unit as the input", 0.0),
    "ubrmse": MetricInfo(ubrmse, "unbiased (anomaly) RMSE", "same unit as the input", 0.0),
    "nse": MetricInfo(nse, "Nash-Sutcliffe efficiency", "dimensionless", 1.0),
    "kge": MetricInfo(kge, "Kling-Gupta efficiency (Kling et al. 2012)", "dimensionless", 1.0),
    "fhv": MetricInfo(fhv, "top-2% flow volume bias (Yilmaz et al. 2008)", "percent", 0.0),
    "flv": MetricInfo(flv, "low-30% log-flow volume bias (Yilmaz et al. 2008)", "percent", 0.0),
}

DEFAULT_METRICS = ("bias", "corr", "rmse", "ubrmse", "nse", "kge", "fhv", "flv")


def evaluate(
    sim,
    obs,
    axis: int = -1,
    metrics=DEFAULT_METRICS,
    *,
    dim: str | None = None,
) -> dict[str, Any]:
    """Compute several metrics; returns ``{name: per-site values}``.

    If ``"kge"`` is requested its components are added as ``"kge_r"``,
    ``"kge_beta"`` and ``"kge_gamma"``. Values have the type of the input (numpy
    array/scalar, torch tensor, or xarray DataArray).
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; available: {sorted(METRICS)}")
    out: dict[str, Any] = {}
    for name in metrics:
        func = METRICS[name].func
        if name == "kge":
            comp = kge(sim, obs, axis, dim=dim, return_components=True)
            out["kge"] = comp["kge"]
            for c in ("r", "beta", "gamma"):
                out[f"kge_{c}"] = comp[c]
        else:
            out[name] = func(sim, obs, axis, dim=dim)
    return out
