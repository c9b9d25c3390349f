"""Differentiable HBV (HBV-light structure), daily time step, batched over sites and components.

Equations (Seibert 2005; Seibert & Vis 2012; Beck et al. 2020; the multi-component,
dynamic-parameter form of Feng et al. 2022). For each site, component and day, with
precipitation ``P``, mean temperature ``T`` and potential ET ``PET``:

Snow (``frozen`` and ``liquid`` water in the snowpack, mm)
    snow = P if T < TT else 0;  rain = P - snow
    frozen += snow
    melt = min(CFMAX * max(T - TT, 0), frozen);            frozen -= melt
    liquid += melt + rain
    refreeze = min(CFR * CFMAX * max(TT - T, 0), liquid);   frozen += refreeze; liquid -= refreeze
    to_soil = max(liquid - CWH * frozen, 0);                liquid -= to_soil
  (rain enters the snowpack's liquid store, as in HBV-light; with no snow, CWH * 0 = 0 and
  all of it passes on the same day.)

Soil (``SM``, mm)
    recharge = to_soil * clamp(SM / FC, eps, 1) ** BETA      (SM at the start of the step)
    SM += to_soil - recharge
    excess = max(SM - FC, 0);  SM -= excess;  recharge += excess
    f = min(SM / (LP * FC), 1)            (or clamp(SM / (LP * FC), eps, 1) ** BETAET, et_shape=True)
    et = min(PET * f, SM);     SM -= et

Response (upper ``SUZ`` and lower ``SLZ`` zones, mm)
    SUZ += recharge
    perc = min(PERC, SUZ);     SUZ -= perc;  SLZ += perc
    q0 = K0 * max(SUZ - UZL, 0);  SUZ -= q0
    q1 = K1 * SUZ;                SUZ -= q1
    q2 = K2 * SLZ;                SLZ -= q2
  The outflows are taken one after another, so no store goes negative even when K0 + K1 > 1.

Every flux is removed from the store it leaves and added to the one it enters, so the water
balance ``sum(P) = sum(et) + sum(q0 + q1 + q2) + change in (frozen + liquid + SM + SUZ + SLZ)``
closes to round-off.

Choices documented here
-----------------------
* The ratios inside the power terms are clamped to ``[eps, 1]`` with ``eps = 1e-6``: at a bone-dry
  soil (SM = 0) the gradient ``BETAET * x ** (BETAET - 1)`` is infinite for BETAET < 1 (a NaN
  after the chain rule), and ``0 ** BETA`` has a ``log(0)`` in its BETA-gradient (torch masks
  that one, the clamp does not rely on it). The price: ``to_soil * eps ** BETA`` (< 1e-6 of the
  input) recharges from a bone-dry soil, and ET from a nearly dry soil is at least
  ``PET * eps ** BETAET`` (still capped by SM) -- both mass conserving. The upper clamp at 1
  keeps ``SM / FC <= 1`` when a dynamic FC shrinks below the stored water.
* Thresholds use ``torch.minimum``/``relu``/``clamp`` (sub-gradients at kinks); the rain/snow
  split is a hard step in T - TT, so TT receives its gradient through melt and refreezing.
* Initial storages are ``initial_storage`` (0.001 mm) in every store; the warm-up period
  (``warmup`` days, run under ``torch.no_grad()``) spins the model up. Outputs for warm-up days
  are not returned and carry no gradient.
* Multi-component: every parameter has a trailing ``nmul`` dimension; each component is a full
  HBV (routing included, each with its own UH) and the returned fluxes and storages are the
  mean over components.
* Routing (``routing=True``): gamma UH of :mod:`dplrepro.physics.routing` (shape = ROUTA + 0.1,
  scale = ROUTB + 0.5 days, ``uh_length`` days, sums to 1) applied to the whole series
  including warm-up, so water generated in the warm-up arrives at the outlet after it.
* Dynamic parameters (``dynamic=("BETA", ...)``) are ``[time, site, nmul]`` over the full
  forcing period, warm-up included; static ones are ``[site, nmul]``. ROUTA/ROUTB are static.

Tensor layout: forcing ``[time, site]``, states ``[site, nmul]`` inside the time loop, outputs
``[time - warmup, site]``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from .parameters import ParameterSpec, ParameterTable, check_model_inputs
from .routing import DEFAULT_UH_LENGTH, gamma_uh, route_with_uh, routing_storage
from .time_loop import days, resolve_fused, run_time_loop

__all__ = ["HBV", "HBV_PARAMETERS"]

_EPS = 1e-6

HBV_PARAMETERS = ParameterTable(
    [
        ParameterSpec("BETA", 1.0, 6.0, "-", "shape of the soil recharge curve"),
        ParameterSpec("FC", 50.0, 1000.0, "mm", "maximum soil moisture storage (field capacity)"),
        ParameterSpec("K0", 0.05, 0.9, "1/day", "fast recession coefficient of the upper zone above UZL"),
        ParameterSpec("K1", 0.01, 0.5, "1/day", "recession coefficient of the upper zone"),
        ParameterSpec("K2", 0.001, 0.2, "1/day", "recession coefficient of the lower zone"),
        ParameterSpec("LP", 0.2, 1.0, "-", "fraction of FC above which ET is at its potential rate"),
        ParameterSpec("PERC", 0.0, 10.0, "mm/day", "maximum percolation from upper to lower zone"),
        ParameterSpec("UZL", 0.0, 100.0, "mm", "upper-zone threshold for the fast outflow Q0"),
        ParameterSpec("TT", -2.5, 2.5, "degC", "threshold temperature for snowfall and melt"),
        ParameterSpec("CFMAX", 0.5, 10.0, "mm/degC/day", "degree-day melt factor"),
        ParameterSpec("CFR", 0.0, 0.1, "-", "refreezing coefficient (fraction of CFMAX)"),
        ParameterSpec("CWH", 0.0, 0.2, "-", "liquid water holding capacity of the snowpack (fraction)"),
        ParameterSpec("BETAET", 0.3, 5.0, "-", "shape of the ET reduction curve (et_shape=True only)"),
        ParameterSpec("ROUTA", 0.0, 2.9, "-", "routing: gamma shape = ROUTA + 0.1 (routing=True only)"),
        ParameterSpec("ROUTB", 0.0, 6.5, "day", "routing: gamma scale = ROUTB + 0.5 days (routing=True only)"),
    ]
)

_CORE = ("BETA", "FC", "K0", "K1", "K2", "LP", "PERC", "UZL", "TT", "CFMAX", "CFR", "CWH")
_ROUTING = ("ROUTA", "ROUTB")
_FORCING = ("prcp", "tmean", "pet")
_STEP_PARAMETERS = ("BETA", "FC", "K0", "K1", "K2", "PERC", "UZL", "CWH")


def _hbv_step(frozen, liquid, sm, suz, slz, snow, rain, melt_pot, refreeze_pot, pet, inv_fc, inv_lpfc,
              BETA, FC, K0, K1, K2, PERC, UZL, CWH, BETAET):
    """One day of HBV for all sites and components (every argument ``[site, nmul]``, mm or per day).

    A pure function of tensors (no dicts, no ``self``) so that :func:`torch.compile` can fuse it.
    ``BETAET=None`` selects the linear ET curve. Returns the stores ``frozen, liquid, sm, suz,
    slz`` after the day, then the fluxes ``q0, q1, q2, et, recharge, melt`` (mm/day).
    """
    # snow
    frozen = frozen + snow
    melt = torch.minimum(melt_pot, frozen)
    frozen = frozen - melt
    liquid = liquid + melt + rain
    refreeze = torch.minimum(refreeze_pot, liquid)
    frozen = frozen + refreeze
    liquid = liquid - refreeze
    to_soil = torch.relu(liquid - CWH * frozen)
    liquid = liquid - to_soil
    # soil
    recharge = to_soil * (sm * inv_fc).clamp(_EPS, 1.0).pow(BETA)
    sm = sm + (to_soil - recharge)
    excess = torch.relu(sm - FC)
    sm = sm - excess
    recharge = recharge + excess
    if BETAET is None:
        factor = (sm * inv_lpfc).clamp(max=1.0)
    else:
        factor = (sm * inv_lpfc).clamp(_EPS, 1.0).pow(BETAET)
    et = torch.minimum(pet * factor, sm)
    sm = sm - et
    # response
    suz = suz + recharge
    perc = torch.minimum(PERC, suz)
    suz = suz - perc
    slz = slz + perc
    q0 = K0 * torch.relu(suz - UZL)
    suz = suz - q0
    q1 = K1 * suz
    suz = suz - q1
    q2 = K2 * slz
    slz = slz - q2
    return frozen, liquid, sm, suz, slz, q0, q1, q2, et, recharge, melt


class HBV(nn.Module):
    """Differentiable HBV with ``nmul`` parallel components; see the module docstring for the equations.

    Parameters
    ----------
    nmul: parallel components; parameters have a trailing ``nmul`` dimension.
    warmup: days at the start of the forcing run without gradient and not returned.
    dynamic: names of parameters given as ``[time, site, nmul]`` (others ``[site, nmul]``).
    routing: route the runoff with a gamma UH (adds ROUTA, ROUTB).
    et_shape: ET reduction ``(SM / (LP FC)) ** BETAET`` instead of linear (adds BETAET).
    uh_length: UH length in days.
    initial_storage: initial content (mm) of every store before the warm-up.
    compiled: ``True``: run the days as one fused kernel each (:func:`torch.compile`) with an
        adjoint backward pass (:mod:`dplrepro.physics.time_loop`) instead of ~40 eager
        operations a day under autograd. Same results to float round-off; costs a one-off
        compile per process (seconds, cached on disk) and no second derivatives; falls back to
        eager (with a logged warning) if compiling fails. ``False``: eager. ``"auto"``
        (default): fused when the forcing is on a CUDA device, eager on the CPU. See
        ``benchmarks/bench_hbv.py`` for the measured effect on each machine.
    check_values: refuse non-finite forcing, negative precipitation or PET and parameters
        outside their bounds (:func:`~dplrepro.physics.parameters.check_model_inputs`) with an
        error naming them (default); ``False`` skips these checks, for experts.

    ``forward(forcing, params)`` -> ``dict[str, Tensor[time - warmup, site]]`` with keys
    :attr:`OUTPUTS`; ``forward(..., return_states=True)`` -> ``(fluxes, states)`` with
    ``states = {"initial": {...}, "final": {...}}``, each ``{store: Tensor[site]}`` (mean over
    components, mm) for the stores :attr:`STORES` plus ``"routing"`` (water inside the UH window)
    when routing is on; "initial" is the state at the start of the returned period.
    """

    PARAMETERS: ParameterTable = HBV_PARAMETERS
    STORES = ("snow_frozen", "snow_liquid", "soil_moisture", "suz", "slz")
    OUTPUTS = (
        "q", "q_unrouted", "q0", "q1", "q2", "et", "recharge", "snowpack",
        "soil_moisture", "suz", "slz", "melt", "rain", "snow",
    )  # fmt: skip

    def __init__(
        self,
        nmul: int = 16,
        warmup: int = 365,
        dynamic: Sequence[str] = (),
        routing: bool = True,
        et_shape: bool = False,
        uh_length: int = DEFAULT_UH_LENGTH,
        initial_storage: float = 0.001,
        compiled: bool | str = "auto",
        check_values: bool = True,
    ) -> None:
        super().__init__()
        self.check_values = bool(check_values)
        if int(nmul) < 1:
            raise ValueError(f"nmul must be >= 1, got {nmul}")
        if int(warmup) < 0:
            raise ValueError(f"warmup must be >= 0 days, got {warmup}")
        if int(uh_length) < 1:
            raise ValueError(f"uh_length must be >= 1 day, got {uh_length}")
        self.nmul = int(nmul)
        self.warmup = int(warmup)
        self.routing = bool(routing)
        self.et_shape = bool(et_shape)
        self.uh_length = int(uh_length)
        self.initial_storage = float(initial_storage)
        resolve_fused(compiled, torch.device("cpu"))  # validates the value
        self.compiled = compiled
        if isinstance(dynamic, str):
            dynamic = (dynamic,)
        self.dynamic = tuple(dynamic)
        table = self.parameter_table
        unknown = [n for n in self.dynamic if n not in table]
        if unknown:
            raise ValueError(f"dynamic parameters {unknown} are not parameters of this HBV: {list(table.names)}")
        routed = [n for n in self.dynamic if n in _ROUTING]
        if routed:
            raise ValueError(f"routing parameters {routed} cannot be dynamic")

    @property
    def parameter_table(self) -> ParameterTable:
        """The parameters this configuration uses (core 12, + BETAET if et_shape, + ROUTA/ROUTB if routing)."""
        names = list(_CORE)
        if self.et_shape:
            names.append("BETAET")
        if self.routing:
            names.extend(_ROUTING)
        return self.PARAMETERS.subset(names)

    def extra_repr(self) -> str:
        return (
            f"nmul={self.nmul}, warmup={self.warmup}, dynamic={self.dynamic}, routing={self.routing}, "
            f"et_shape={self.et_shape}, uh_length={self.uh_length}" + (f", compiled={self.compiled!r}" if self.compiled != "auto" else "")
        )

    # ------------------------------------------------------------------ checks
    def _check_inputs(self, forcing: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]):
        return check_model_inputs("HBV", forcing, _FORCING, params, self.parameter_table, warmup=self.warmup,
                                  dynamic=self.dynamic, components=(self.nmul,), fixed=(),
                                  description=self.extra_repr(), check_values=self.check_values)

    # ------------------------------------------------------------------ model
    def forward(
        self,
        forcing: Mapping[str, torch.Tensor],
        params: Mapping[str, torch.Tensor],
        return_states: bool = False,
    ):
        n_time, n_site = self._check_inputs(forcing, params)
        warmup = self.warmup
        p = params

        # --- everything that does not depend on state, for all steps at once ---------------
        prcp = forcing["prcp"].unsqueeze(-1)  # [time, site, 1]
        temp = forcing["tmean"].unsqueeze(-1)
        pet = forcing["pet"].unsqueeze(-1)
        tt = p["TT"]
        cold = temp < tt  # [time, site, nmul]
        zero = torch.zeros((), dtype=prcp.dtype, device=prcp.device)
        snow_in = torch.where(cold, prcp, zero)
        rain_in = prcp - snow_in
        melt_pot = p["CFMAX"] * torch.relu(temp - tt)
        refreeze_pot = p["CFR"] * p["CFMAX"] * torch.relu(tt - temp)
        inv_fc = 1.0 / p["FC"]
        inv_lpfc = 1.0 / (p["LP"] * p["FC"])
        # step-wise views, in the argument order of _hbv_step; a static tensor is shared by every step
        inputs = [snow_in, rain_in, melt_pot, refreeze_pot, pet, inv_fc, inv_lpfc]
        inputs += [p[name] for name in _STEP_PARAMETERS]
        if self.et_shape:
            inputs.append(p["BETAET"])
        extras = () if self.et_shape else (None,)  # BETAET=None: the linear ET curve
        fused = resolve_fused(self.compiled, prcp.device)

        s0 = torch.full((n_site, self.nmul), self.initial_storage, dtype=prcp.dtype, device=prcp.device)
        state = tuple(s0.clone() for _ in self.STORES)
        n_stores = len(self.STORES)

        # --- warm-up: no graph, no outputs except the runoff still to be routed -----------
        if warmup:
            with torch.no_grad():
                warm = run_time_loop(_hbv_step, state, days(inputs, 2, 0, warmup), warmup,
                                     extras=extras, fused=fused)
            state = tuple(v[-1] for v in warm[:n_stores])
            q_warm = warm[n_stores] + warm[n_stores + 1] + warm[n_stores + 2]
        initial = {k: v.mean(-1) for k, v in zip(self.STORES, state)}

        # --- simulation: _hbv_step returns the 5 stores, then q0, q1, q2, et, recharge, melt ---
        keys = self.STORES + ("q0", "q1", "q2", "et", "recharge", "melt")
        sim = run_time_loop(_hbv_step, state, days(inputs, 2, warmup), n_time - warmup,
                            extras=extras, fused=fused)
        comp = dict(zip(keys, sim))  # [time - warmup, site, nmul]
        state = {k: comp[k][-1] for k in self.STORES}
        q_comp = comp["q0"] + comp["q1"] + comp["q2"]

        out = {k: comp[k].mean(-1) for k in ("q0", "q1", "q2", "et", "recharge", "melt", "soil_moisture", "suz", "slz")}
        out["snowpack"] = (comp["snow_frozen"] + comp["snow_liquid"]).mean(-1)
        out["rain"] = rain_in[warmup:].mean(-1)
        out["snow"] = snow_in[warmup:].mean(-1)
        out["q_unrouted"] = q_comp.mean(-1)
        final = {k: v.mean(-1) for k, v in state.items()}

        if self.routing:
            # each component is routed with its own UH; [time, site * nmul] in one grouped conv
            uh = gamma_uh(p["ROUTA"].reshape(-1), p["ROUTB"].reshape(-1), self.uh_length)
            q_all = torch.cat([q_warm, q_comp]) if warmup else q_comp
            q_all = q_all.reshape(n_time, -1)
            routed = route_with_uh(q_all, uh)[warmup:].reshape(n_time - warmup, n_site, self.nmul)
            out["q"] = routed.mean(-1)
            with torch.no_grad():
                start = routing_storage(q_all[:warmup], uh) if warmup else torch.zeros_like(q_all[0])
            initial["routing"] = start.reshape(n_site, self.nmul).mean(-1)
            final["routing"] = routing_storage(q_all, uh).reshape(n_site, self.nmul).mean(-1)
        else:
            out["q"] = out["q_unrouted"]

        out = {k: out[k] for k in self.OUTPUTS}
        if return_states:
            return out, {"initial": initial, "final": final}
        return out

    def water_balance(
        self, forcing: Mapping[str, torch.Tensor], fluxes: Mapping[str, torch.Tensor], states
    ) -> torch.Tensor:
        """Residual ``P - ET - Q - dS`` (mm, ``Tensor[site]``) over the returned period.

        ``Q`` is the routed ``q`` and ``dS`` includes the water inside the routing window when
        routing is on (otherwise ``q == q_unrouted``). Should be ~0 up to round-off.
        """
        p_sum = forcing["prcp"][self.warmup :].sum(0)
        d_s = sum(states["final"][k] - states["initial"][k] for k in states["final"])
        return p_sum - fluxes["et"].sum(0) - fluxes["q"].sum(0) - d_s
