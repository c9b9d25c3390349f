"""Shuffled Complex Evolution (SCE-UA), batched over many sites.

The classic baseline of Tsai et al. (2021) calibrates every basin separately with
SCE-UA. This module runs those per-site calibrations *together*: every site owns its
own population (``[site, point, param]``), the complexes of all sites evolve in
lock-step, and each model evaluation is ONE call of the objective over all sites.

Algorithm (written from the papers, not from other code)
-------------------------------------------------------
Duan, Sorooshian & Gupta (1992), WRR 28(4):1015-1031, and Duan, Sorooshian & Gupta
(1994), J. Hydrol. 158:265-284:

1. Sample ``s = p*m`` points uniformly in the feasible box (``p`` = ``ngs`` complexes,
   ``m`` = ``npg`` points each; with ``iniflg`` the user's ``x0`` is the first point);
   evaluate them.
2. Sort the points by increasing criterion value.
3. Partition into ``p`` complexes: complex ``k`` gets the points of rank
   ``k, k+p, k+2p, ...`` (so each complex is itself sorted).
4. Evolve every complex with the competitive complex evolution (CCE), ``beta`` =
   ``nspl`` times:

   a. select ``q`` = ``nps`` distinct points of the complex with the trapezoidal
      probabilities ``p_i = 2(m+1-i) / (m(m+1))`` (rank ``i`` = 1 is the best point);
   b. with ``u_q`` the worst of them and ``g`` the centroid of the other ``q-1``, reflect:
      ``r = 2g - u_q``; if ``r`` leaves the feasible box, replace it by a random point
      drawn uniformly in the smallest hypercube ``H`` containing the complex;
   c. if ``f(r) < f(u_q)`` accept ``r``; otherwise contract ``c = (g + u_q)/2``, accept
      ``c`` if ``f(c) < f(u_q)``; otherwise accept a random point ``z`` in ``H``
      (the "mutation", accepted unconditionally);
   d. the offspring replaces ``u_q`` in the complex, which is re-sorted. ``alpha`` (the
      number of offspring per sub-complex) is 1, as recommended in Duan et al. (1994).

5. Shuffle: merge the complexes and sort again (step 2). If ``p > p_min`` (``mings``),
   drop the ``m`` worst points (one complex) -- Duan et al. (1992), step 7.
6. Stop when the budget ``maxn`` is spent, the population's normalised geometric range
   ``exp(mean_j log((max x_j - min x_j)/(upper_j - lower_j)))`` falls below ``peps``, or
   the best value changed by less than ``pcento`` per cent over the last ``kstop``
   shuffling loops (``100 |f_L - f_{L-kstop+1}| / mean |f_{L-kstop+1..L}| < pcento``).

Batching design
---------------
* Sites never interact; complexes of one site do not interact between shuffles, so
  evolving all (site, complex) pairs in parallel is exactly the serial algorithm. The
  ``nspl`` CCE steps inside a complex are sequential (each depends on the last).
* One CCE step evaluates, in a single objective call of ``m = 3 * ngs`` points per site,
  the three candidates of every complex: the reflection (or its random replacement),
  the contraction, and the fallback random point. They all depend only on the complex
  before the step, so evaluating them speculatively gives exactly the serial algorithm's
  decision. ``n_evaluations`` counts what a serial SCE-UA would have evaluated
  (reflection always; contraction only if the reflection failed; random point only if
  both failed) -- this is the "forward runs" axis of the paper. ``n_points_evaluated``
  is what was really computed (3 per complex and step, every site).
* ``lazy_candidates``: the same step in up to three calls, each on the (site, complex)
  pairs still undecided (active sites only), so the points computed approach
  ``n_evaluations``; the decisions and random numbers are those of the single call.
* Objective calls per run: ``1 + nspl * n_loops`` where ``n_loops`` is the number of
  shuffling loops of the slowest site -- independent of the number of sites.
* Per-site stopping: after each shuffling loop each still-active site is checked
  (``maxn``, ``peps``, ``pcento``/``kstop``). A finished site is FROZEN: it is still
  passed to the objective (shapes stay fixed, so one call serves all sites) but the
  returned values are ignored, its counters stop, and its best point, best value and
  history no longer change.
* Random numbers come from a counter-based generator keyed by ``(seed, stream id of the
  site, draw counter)`` (a 32-bit integer hash evaluated with torch integer ops, so it
  runs on any device). Every site draws the same amount at the same point of the
  algorithm whatever the batch, hence a site's trajectory depends only on ``seed``, its
  stream id (default: its index) and its own objective -- calibrating N sites together
  gives bit-for-bit the same result per site as calibrating each alone with
  ``streams=[k]`` -- provided the objective's value for a site is itself bit-identical
  whatever the batch (true for elementwise analytic objectives; a model whose kernels
  round differently for different batch sizes, e.g. FFT or matmul, agrees only to
  rounding, which can in rare near-ties change a decision) and the same device/dtype.
  ``torch.Generator`` is not used because one generator shared by all sites would make
  each site's result depend on the batch composition.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from tqdm.auto import tqdm

__all__ = [
    "SceuaSettings",
    "SceuaResult",
    "ProcessCalibration",
    "sceua",
    "calibrate_process_model",
    "nan_rmse",
]

_M32 = 0xFFFFFFFF
_REASONS = ("", "pcento", "peps", "maxn")


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class SceuaSettings:
    """SCE-UA control parameters (Duan et al. 1992, 1994). ``None`` = derived from the
    number of parameters ``n`` as recommended by Duan et al. (1994).

    ngs: number of complexes ``p``. Duan et al. (1994) found ``p`` problem dependent (it
        should grow with the dimension/difficulty); 2 is the small default of the brief.
    npg: points per complex ``m`` (None -> ``2n+1``, Duan et al. 1994).
    nps: points per sub-complex ``q`` (None -> ``n+1``, Duan et al. 1994).
    nspl: evolution steps per complex between shuffles ``beta`` (None -> ``npg``).
    mings: minimum number of complexes ``p_min`` (None -> ``ngs``, i.e. no reduction,
        as recommended by Duan et al. 1994).
    iniflg: include ``x0`` in the initial population (None -> iff ``x0`` is given).
    maxn: budget of function evaluations per site (checked after each shuffling loop).
    kstop: number of shuffling loops over which the improvement is measured.
    pcento: per-cent change of the best value over ``kstop`` loops below which a site
        has converged.
    peps: normalised geometric range of the population below which a site has converged.
    seed: seed of the counter-based random streams.
    lazy_candidates: each evolution step evaluates the contraction only where the reflection
        failed and the random point only where both failed, for active sites only (the
        objective must take ``sites=``; see :func:`sceua`). Same search, same random numbers,
        same result; fewer model runs but up to three calls a step -- it pays when a run's
        cost grows with the number of sites (an LSTM surrogate), not when per-call overhead
        dominates (a small daily loop).
    """

    ngs: int = 2
    npg: int | None = None
    nps: int | None = None
    nspl: int | None = None
    mings: int | None = None
    iniflg: bool | None = None
    maxn: int = 10000
    kstop: int = 10
    pcento: float = 0.1
    peps: float = 0.001
    seed: int = 0
    lazy_candidates: bool = False

    def resolved(self, n_params: int) -> "SceuaSettings":
        """Copy with the ``None`` entries computed for ``n_params`` parameters, validated."""
        n = int(n_params)
        if n < 1:
            raise ValueError(f"need at least one parameter, got {n}")
        npg = 2 * n + 1 if self.npg is None else int(self.npg)
        nps = n + 1 if self.nps is None else int(self.nps)
        nspl = npg if self.nspl is None else int(self.nspl)
        mings = self.ngs if self.mings is None else int(self.mings)
        out = dataclasses.replace(self, npg=npg, nps=nps, nspl=nspl, mings=mings)
        if out.ngs < 1:
            raise ValueError(f"ngs must be >= 1, got {out.ngs}")
        if not 1 <= mings <= out.ngs:
            raise ValueError(f"mings must be in [1, ngs={out.ngs}], got {mings}")
        if npg < 2:
            raise ValueError(f"npg must be >= 2, got {npg}")
        if not 2 <= nps <= npg:
            raise ValueError(f"nps must be in [2, npg={npg}], got {nps}")
        if nspl < 1:
            raise ValueError(f"nspl must be >= 1, got {nspl}")
        if out.maxn < 1 or out.kstop < 1:
            raise ValueError("maxn and kstop must be >= 1")
        return out


# --------------------------------------------------------------------------- result
@dataclass
class SceuaResult:
    """Outcome of :func:`sceua` for ``S`` sites and ``n`` parameters.

    x, f: best point ``[S, n]`` and its objective value ``[S]`` per site.
    n_evaluations: ``[S]`` evaluations a serial SCE-UA would have made (see module doc).
    converged: ``[S]`` True where ``pcento``/``kstop`` or ``peps`` stopped the site.
    reason: per site ``"pcento"``, ``"peps"`` or ``"maxn"`` (budget spent, not converged).
    n_loops: ``[S]`` shuffling loops done by each site.
    history_f: ``[L+1, S]`` best value after the initial sample (row 0) and after each
        shuffling loop; frozen sites repeat their final value.
    history_n_evaluations: ``[L+1, S]`` cumulative ``n_evaluations`` at the same points.
    n_objective_calls: number of calls of the objective (all sites at once each time, unless
        ``lazy_candidates``).
    n_points_evaluated: points per site really passed to the objective (speculative
        candidates and frozen sites included).
    wall_time: seconds.
    settings: the resolved settings.
    streams: ``[S]`` stream ids used for the random numbers of each site.
    """

    x: torch.Tensor
    f: torch.Tensor
    n_evaluations: torch.Tensor
    converged: torch.Tensor
    reason: list[str]
    n_loops: torch.Tensor
    history_f: torch.Tensor
    history_n_evaluations: torch.Tensor
    n_objective_calls: int
    n_points_evaluated: int
    wall_time: float
    settings: SceuaSettings
    streams: torch.Tensor = field(repr=False)

    @property
    def n_sites(self) -> int:
        return int(self.f.shape[0])


# --------------------------------------------------------------------------- random numbers
def _mulmod32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for int64 ``x`` in ``[0, 2**32)`` without int64 overflow."""
    lo, hi = c & 0xFFFF, (c >> 16) & 0xFFFF
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """Bijective 32-bit integer hash (xor-shift-multiply), on int64 tensors in [0, 2**32)."""
    x = x ^ (x >> 16)
    x = _mulmod32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mulmod32(x, 0x846CA68B)
    return x ^ (x >> 16)


class _StreamRNG:
    """Counter-based uniform generator: one independent stream per site.

    Draw ``j`` of site ``s`` is a hash of ``(seed, streams[s], j)``; all sites advance the
    counter together, so a site's numbers do not depend on which other sites are in the
    batch.
    """

    def __init__(self, seed: int, streams: torch.Tensor) -> None:
        seed = int(seed) & 0xFFFFFFFFFFFFFFFF
        s_lo = torch.tensor(seed & _M32, dtype=torch.int64, device=streams.device)
        s_hi = torch.tensor(seed >> 32, dtype=torch.int64, device=streams.device)
        st = streams.to(torch.int64)
        st_lo, st_hi = st & _M32, (st >> 32) & _M32
        k = _mix32(_mix32(s_lo ^ 0x243F6A88) ^ st_lo)
        k = _mix32(k ^ _mix32(s_hi ^ 0x85A308D3) ^ _mix32(st_hi ^ 0x13198A2E))
        self.key1 = k  # [S]
        self.key2 = _mix32(k ^ 0xA4093822)  # [S]
        self.counter = 0

    def uniform(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        """``[S, *shape]`` uniforms in the open interval (0, 1) with 53 random bits."""
        k = math.prod(shape)
        dev = self.key1.device
        idx = torch.arange(self.counter, self.counter + 2 * k, dtype=torch.int64, device=dev)
        self.counter += 2 * k
        i_lo, i_hi = idx & _M32, idx >> 32
        a = _mix32(_mulmod32(i_lo, 0x9E3779B9) ^ self.key1[:, None])
        h = _mix32(a ^ self.key2[:, None] ^ _mix32(i_hi ^ 0x3707344A))  # [S, 2k]
        hi, lo = h[:, 0::2] >> 5, h[:, 1::2] >> 6  # 27 + 26 bits
        u = ((hi * 67108864 + lo).to(torch.float64) + 0.5) * (1.0 / 9007199254740992.0)
        return u.to(dtype).view(-1, *shape)


# --------------------------------------------------------------------------- helpers
def _sort_points(x: torch.Tensor, f: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sort points by increasing ``f`` along ``dim`` (stable, so ties keep their order)."""
    f_sorted, order = torch.sort(f, dim=dim, stable=True)
    x_sorted = torch.gather(x, dim, order.unsqueeze(-1).expand_as(x))
    return x_sorted, f_sorted


def _as_site_matrix(v: Any, n_sites: int, n_params: int, name: str, dtype, device) -> torch.Tensor:
    t = torch.as_tensor(v, dtype=dtype, device=device)
    if t.dim() == 1:
        t = t.expand(n_sites, -1)
    if t.shape != (n_sites, n_params):
        raise ValueError(f"{name} must be [n_params] or [n_sites, n_params] = [{n_sites}, {n_params}], got {tuple(t.shape)}")
    return t.contiguous()


def _infer_n_sites(n_sites, lower, upper, x0, streams) -> int:
    cands = {}
    if n_sites is not None:
        cands["n_sites"] = int(n_sites)
    for name, v in (("lower", lower), ("upper", upper), ("x0", x0)):
        if v is not None and torch.as_tensor(v).dim() == 2:
            cands[name] = int(torch.as_tensor(v).shape[0])
    if streams is not None:
        cands["streams"] = int(torch.as_tensor(streams).numel())
    values = set(cands.values())
    if len(values) > 1:
        raise ValueError(f"inconsistent numbers of sites: {cands}")
    return values.pop() if values else 1


# --------------------------------------------------------------------------- SCE-UA
def sceua(
    objective: Callable[[torch.Tensor], torch.Tensor],
    lower: Any,
    upper: Any,
    settings: SceuaSettings | None = None,
    *,
    n_sites: int | None = None,
    x0: Any = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
    progress: bool = True,
    streams: Any = None,
) -> SceuaResult:
    """Minimise ``objective`` separately for every site with SCE-UA, all sites batched.

    Parameters
    ----------
    objective: ``x [n_sites, m, n_params] -> f [n_sites, m]`` (minimised). Called with all
        sites every time (frozen sites included); NaN values are treated as +inf. With
        ``settings.lazy_candidates`` the evolution steps call ``objective(x, sites=idx)``
        with ``x [k, m, n_params]`` for the sites ``idx [k]`` only.
    lower, upper: bounds ``[n_params]`` (shared) or ``[n_sites, n_params]``.
    settings: :class:`SceuaSettings` (default: the defaults).
    n_sites: number of sites, if it cannot be inferred from ``lower``/``upper``/``x0``/``streams``.
    x0: initial point ``[n_params]`` or ``[n_sites, n_params]``, put in the initial
        population when ``settings.iniflg`` is True or None.
    device, dtype: where and in which precision the populations live.
    progress: show a tqdm bar over shuffling loops.
    streams: ``[n_sites]`` integer stream ids of the sites' random numbers (default
        ``0..n_sites-1``). Site ``k`` of a batch reproduces a lone run with
        ``streams=[k]`` and the same seed.
    """
    t_start = time.perf_counter()
    lower_t = torch.as_tensor(lower, dtype=dtype)
    n = int(lower_t.shape[-1])
    s = (settings or SceuaSettings()).resolved(n)
    S = _infer_n_sites(n_sites, lower, upper, x0, streams)
    dev = torch.device(device) if device is not None else lower_t.device
    lo = _as_site_matrix(lower, S, n, "lower", dtype, dev)
    up = _as_site_matrix(upper, S, n, "upper", dtype, dev)
    for name, b in (("lower", lo), ("upper", up)):
        if not bool(torch.isfinite(b).all()):
            site, param = (int(i) for i in torch.nonzero(~torch.isfinite(b))[0])
            raise ValueError(f"{name} bounds must be finite (SCE-UA samples uniformly inside them); site {site}, "
                             f"parameter {param} has {float(b[site, param])}")
    if not bool((up > lo).all()):
        raise ValueError("upper must be > lower for every site and parameter")
    bound = up - lo
    iniflg = (x0 is not None) if s.iniflg is None else bool(s.iniflg)
    if iniflg and x0 is None:
        raise ValueError("settings.iniflg is True but no x0 was given")
    if streams is None:
        stream_ids = torch.arange(S, dtype=torch.int64, device=dev)
    else:
        stream_ids = torch.as_tensor(streams, dtype=torch.int64, device=dev).reshape(S)
    rng = _StreamRNG(s.seed, stream_ids)

    n_calls = 0
    n_points = 0

    def evaluate(x: torch.Tensor) -> torch.Tensor:
        nonlocal n_calls, n_points
        out = torch.as_tensor(objective(x))
        n_calls += 1
        n_points += x.shape[1]
        if out.shape != x.shape[:2]:
            raise ValueError(f"objective returned shape {tuple(out.shape)}, expected {tuple(x.shape[:2])}")
        out = out.to(device=dev, dtype=dtype)
        return torch.nan_to_num(out, nan=math.inf)

    def evaluate_pairs(x: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
        """f of ``x [S, C, n]`` where ``wanted [S, C]``, +inf elsewhere (one call of the
        objective on the pairs' sites, ``m`` = 1)."""
        nonlocal n_calls, n_points
        f = torch.full(wanted.shape, math.inf, dtype=dtype, device=dev)
        site, comp = torch.nonzero(wanted, as_tuple=True)
        if site.numel() == 0:
            return f
        out = torch.as_tensor(objective(x[site, comp].unsqueeze(1), sites=site))
        n_calls += 1
        n_points += -(-site.numel() // S)  # per site, rounded up
        if out.shape != (site.numel(), 1):
            raise ValueError(f"objective returned shape {tuple(out.shape)}, expected {(site.numel(), 1)}")
        f[site, comp] = torch.nan_to_num(out.to(device=dev, dtype=dtype).view(-1), nan=math.inf)
        return f

    def evaluate_lazily(cand: torch.Tensor, fq: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        """``fcand [S, C, 3]`` of reflection, contraction and random point, each evaluated only
        where the ones before it did not beat ``fq`` (active sites only; +inf elsewhere)."""
        todo = active.view(-1, 1).expand(fq.shape)
        parts = []
        for j in range(3):
            parts.append(evaluate_pairs(cand[:, :, j, :], todo))
            todo = todo & ~(parts[-1] < fq)
        return torch.stack(parts, dim=2)

    C, m, q = s.ngs, s.npg, s.nps
    # ---- step 1: initial population
    X = lo[:, None, :] + rng.uniform((C * m, n), dtype) * bound[:, None, :]
    if iniflg:
        x0_t = _as_site_matrix(x0, S, n, "x0", dtype, dev)
        if not bool(((x0_t >= lo) & (x0_t <= up)).all()):
            raise ValueError("x0 lies outside the bounds")
        X[:, 0, :] = x0_t
    F = evaluate(X)
    n_eval = torch.full((S,), C * m, dtype=torch.int64, device=dev)
    X, F = _sort_points(X, F, dim=1)

    best_x, best_f = X[:, 0, :].clone(), F[:, 0].clone()
    reason_code = torch.zeros(S, dtype=torch.int64, device=dev)
    n_loops = torch.zeros(S, dtype=torch.int64, device=dev)
    hist_f, hist_n = [best_f.clone()], [n_eval.clone()]
    criter: list[torch.Tensor] = []

    def geometric_range(Xp: torch.Tensor) -> torch.Tensor:
        rng_ = (Xp.amax(dim=1) - Xp.amin(dim=1)) / bound
        return torch.exp(torch.log(rng_).mean(dim=1))  # log(0) -> -inf -> 0

    active = torch.ones(S, dtype=torch.bool, device=dev)
    # budget / parameter-space checks on the initial sample (as in Duan's code)
    reason_code = torch.where(geometric_range(X) < s.peps, 2, reason_code)
    reason_code = torch.where((reason_code == 0) & (n_eval >= s.maxn), 3, reason_code)
    active &= reason_code == 0

    # trapezoidal selection probabilities of ranks 1..m (Duan et al. 1994)
    ranks = torch.arange(1, m + 1, dtype=dtype, device=dev)
    weights = 2.0 * (m + 1 - ranks) / (m * (m + 1))

    bar = tqdm(desc="SCE-UA", unit="loop", disable=not progress, leave=False)
    try:
        while bool(active.any()):
            was_active = active.clone()
            # ---- step 3: partition into complexes, complex k = ranks k, k+C, k+2C, ...
            Xc = X.view(S, m, C, n).transpose(1, 2).contiguous()  # [S, C, m, n]
            Fc = F.view(S, m, C).transpose(1, 2).contiguous()  # [S, C, m]
            # ---- step 4: CCE, vectorised over sites and complexes
            for _ in range(s.nspl):
                # a. q distinct points with trapezoidal probabilities: successive sampling
                #    without replacement == top-q of u**(1/w) (Efraimidis & Spirakis 2006)
                keys = torch.log(rng.uniform((C, m), dtype)) / weights  # [S, C, m]
                sel = torch.topk(keys, q, dim=-1).indices.sort(dim=-1).values  # ranks, sorted
                B = torch.gather(Xc, 2, sel.unsqueeze(-1).expand(S, C, q, n))  # [S, C, q, n]
                worst = sel[..., -1]  # position of u_q in its complex
                uq = B[:, :, -1, :]
                fq = torch.gather(Fc, 2, worst.unsqueeze(-1)).squeeze(-1)
                g = B[:, :, :-1, :].mean(dim=2)
                # smallest hypercube H containing the complex; two random points in it
                hmin, hmax = Xc.amin(dim=2), Xc.amax(dim=2)
                z = hmin.unsqueeze(2) + rng.uniform((C, 2, n), dtype) * (hmax - hmin).unsqueeze(2)
                # b. reflection (random point in H if infeasible)
                r = 2.0 * g - uq
                feasible = ((r >= lo[:, None, :]) & (r <= up[:, None, :])).all(dim=-1)
                r = torch.where(feasible.unsqueeze(-1), r, z[:, :, 0, :])
                # c. contraction and fallback random point, evaluated together with r
                #    (or, lazily, each only where the candidates before it failed)
                c = 0.5 * (g + uq)
                cand = torch.stack((r, c, z[:, :, 1, :]), dim=2)  # [S, C, 3, n]
                if s.lazy_candidates:
                    fcand = evaluate_lazily(cand, fq, active)
                else:
                    fcand = evaluate(cand.view(S, C * 3, n)).view(S, C, 3)
                take_r = fcand[..., 0] < fq
                take_c = ~take_r & (fcand[..., 1] < fq)
                choice = torch.where(take_r, 0, torch.where(take_c, 1, 2))  # [S, C]
                new_x = torch.gather(cand, 2, choice.view(S, C, 1, 1).expand(S, C, 1, n)).squeeze(2)
                new_f = torch.gather(fcand, 2, choice.unsqueeze(-1)).squeeze(-1)
                used = 1 + (~take_r).to(torch.int64) + (~take_r & ~take_c).to(torch.int64)
                # frozen sites keep their complexes unchanged
                act = active.view(S, 1)
                new_x = torch.where(act.unsqueeze(-1), new_x, uq)
                new_f = torch.where(act, new_f, fq)
                n_eval += torch.where(active, used.sum(dim=1), 0)
                # d. offspring replaces u_q; re-sort the complex
                Xc.scatter_(2, worst.view(S, C, 1, 1).expand(S, C, 1, n), new_x.unsqueeze(2))
                Fc.scatter_(2, worst.unsqueeze(-1), new_f.unsqueeze(-1))
                Xc, Fc = _sort_points(Xc, Fc, dim=2)
            # ---- step 5: shuffle (merge and sort), optional complex reduction
            X, F = _sort_points(Xc.view(S, C * m, n), Fc.view(S, C * m), dim=1)
            if C > s.mings:
                C -= 1
                X, F = X[:, : C * m].contiguous(), F[:, : C * m].contiguous()
            # ---- step 6: per-site convergence checks (active sites only)
            n_loops += was_active.to(torch.int64)
            best_x = torch.where(was_active.unsqueeze(-1), X[:, 0, :], best_x)
            best_f = torch.where(was_active, F[:, 0], best_f)
            criter.append(best_f.clone())
            code = torch.zeros_like(reason_code)
            code = torch.where(n_eval >= s.maxn, 3, code)
            code = torch.where(geometric_range(X) < s.peps, 2, code)
            if len(criter) >= s.kstop:
                window = torch.stack(criter[-s.kstop:])  # [kstop, S]
                num = (window[-1] - window[0]).abs() * 100.0
                den = window.abs().mean(dim=0)
                change = torch.where(num == 0, torch.zeros_like(num), num / den)
                code = torch.where(change < s.pcento, 1, code)
            reason_code = torch.where(was_active, code, reason_code)
            active = was_active & (code == 0)
            hist_f.append(best_f.clone())
            hist_n.append(n_eval.clone())
            if progress:
                bar.set_postfix(active=int(active.sum()), median_f=float(best_f.median()), refresh=False)
            bar.update(1)
    finally:
        bar.close()

    hopeless = ~torch.isfinite(best_f)
    if bool(hopeless.any()):
        warnings.warn(f"SCE-UA: the objective was NaN or infinite at every point evaluated for {int(hopeless.sum())} "
                      f"of {S} site(s) (e.g. site {int(torch.nonzero(hopeless)[0])}); their x is not a calibration "
                      "(f = inf). Check their observations and forcing", RuntimeWarning, stacklevel=2)
    reasons = [_REASONS[int(c)] for c in reason_code.tolist()]
    return SceuaResult(
        x=best_x,
        f=best_f,
        n_evaluations=n_eval,
        converged=(reason_code == 1) | (reason_code == 2),
        reason=reasons,
        n_loops=n_loops,
        history_f=torch.stack(hist_f),
        history_n_evaluations=torch.stack(hist_n),
        n_objective_calls=n_calls,
        n_points_evaluated=n_points,
        wall_time=time.perf_counter() - t_start,
        settings=s,
        streams=stream_ids,
    )


# --------------------------------------------------------------------------- process models
def nan_rmse(sim: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """RMSE per column of ``[time, site]`` over the time steps where ``obs`` is not NaN
    (NaN for a column without observations)."""
    ok = ~torch.isnan(obs)
    err = torch.where(ok, sim - torch.nan_to_num(obs), torch.zeros_like(sim))
    cnt = ok.sum(dim=0)
    return torch.sqrt((err**2).sum(dim=0) / cnt)


@dataclass
class ProcessCalibration:
    """Result of :func:`calibrate_process_model`.

    result: the :class:`SceuaResult` in the unit hypercube (``result.x`` in [0, 1]).
    params: physical best parameters by name, each ``[n_sites]``.
    """

    result: SceuaResult
    params: dict[str, torch.Tensor]


def _table_bounds(table, dtype, device) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    names = list(table.names)
    if hasattr(table, "lows") and hasattr(table, "highs"):
        lows, highs = table.lows, table.highs
        if callable(lows):  # dplrepro.physics.ParameterTable: lows(device, dtype) -> Tensor
            lows, highs = lows(device=device, dtype=dtype), highs(device=device, dtype=dtype)
    else:  # ParameterTable-like mapping name -> spec with .low / .high
        lows = [float(table[nm].low) for nm in names]
        highs = [float(table[nm].high) for nm in names]
    lows = torch.as_tensor(lows, dtype=dtype, device=device).reshape(len(names))
    highs = torch.as_tensor(highs, dtype=dtype, device=device).reshape(len(names))
    return names, lows, highs


def calibrate_process_model(
    model: Any,
    forcing: Mapping[str, torch.Tensor],
    obs: torch.Tensor,
    table: Any,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    settings: SceuaSettings | None = None,
    *,
    warmup: int = 0,
    output: str = "q",
    x0: Any = None,
    streams: Any = None,
    max_virtual_sites: int | None = None,
    param_transform: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
) -> ProcessCalibration:
    """Calibrate a process model per site with batched SCE-UA.

    The search runs in the unit hypercube ``[0, 1]^n``; a point ``u`` maps to physical
    parameters ``low + u * (high - low)`` of ``table`` (an object with ``names`` and either
    ``lows``/``highs`` or ``table[name].low/.high``). For each batch of ``m`` points per
    site the ``n_sites * m`` parameter sets become ``n_sites * m`` *virtual sites* of ONE
    model run: virtual site ``s*m + j`` gets the forcing of site ``s`` and point ``j``.

    model: callable ``model(forcing_dict, params_dict) -> {output: Tensor[time, site]}``
        (e.g. an ``nn.Module`` whose ``forward`` has that signature); run under
        ``torch.no_grad``.
    forcing: ``{name: Tensor[time, n_sites, ...]}``.
    obs: ``[time, n_sites]`` observations (NaN = missing).
    loss: ``loss(sim[time, V], obs[time, V]) -> [V]`` per virtual site, minimised
        (default :func:`nan_rmse`). The first ``warmup`` time steps are dropped before it.
    settings: :class:`SceuaSettings`.
    x0: optional start point in the unit cube, ``[n]`` or ``[n_sites, n]``.
    streams: random stream ids per site (see :func:`sceua`).
    max_virtual_sites: run the model in chunks of at most this many virtual sites (memory
        cap; still one objective call from SCE-UA's point of view).
    param_transform: ``(name, values[V]) -> tensor`` to reshape a parameter for the model
        (e.g. ``lambda n, v: v[:, None]`` for models expecting ``[site, nmul]``).
    """
    loss = nan_rmse if loss is None else loss
    obs = torch.as_tensor(obs)
    if obs.dim() != 2:
        raise ValueError(f"obs must be [time, site], got {tuple(obs.shape)}")
    n_sites = int(obs.shape[1])
    device = obs.device
    model_dtype = obs.dtype if obs.is_floating_point() else torch.float32
    forcing = {k: torch.as_tensor(v, device=device) for k, v in forcing.items()}
    for k, v in forcing.items():
        if v.dim() < 2 or v.shape[1] != n_sites:
            raise ValueError(f"forcing[{k!r}] must be [time, {n_sites}, ...], got {tuple(v.shape)}")
    names, lows, highs = _table_bounds(table, torch.float64, device)
    n = len(names)

    def run_model(params_phys: torch.Tensor, site_idx: torch.Tensor) -> torch.Tensor:
        f_v = {k: v.index_select(1, site_idx) for k, v in forcing.items()}
        p_v = {}
        for i, nm in enumerate(names):
            val = params_phys[:, i].to(model_dtype)
            p_v[nm] = param_transform(nm, val) if param_transform is not None else val
        with torch.no_grad():
            sim = model(f_v, p_v)[output]
        o_v = obs.index_select(1, site_idx)
        return loss(sim[warmup:], o_v[warmup:])

    def objective(x: torch.Tensor, sites: torch.Tensor | None = None) -> torch.Tensor:
        S, m, _ = x.shape
        V = S * m
        rows = torch.arange(S, device=device) if sites is None else torch.as_tensor(sites, device=device)
        site_idx = rows.repeat_interleave(m)
        phys = lows + x.reshape(V, n) * (highs - lows)
        chunk = V if max_virtual_sites is None else max(1, int(max_virtual_sites))
        parts = [run_model(phys[a : a + chunk], site_idx[a : a + chunk]) for a in range(0, V, chunk)]
        return torch.cat(parts).to(x.dtype).view(S, m)

    res = sceua(
        objective,
        torch.zeros(n, dtype=torch.float64),
        torch.ones(n, dtype=torch.float64),
        settings,
        n_sites=n_sites,
        x0=x0,
        device=device,
        dtype=torch.float64,
        progress=progress,
        streams=streams,
    )
    phys = lows + res.x * (highs - lows)
    return ProcessCalibration(result=res, params={nm: phys[:, i] for i, nm in enumerate(names)})
