"""A differentiable VIC-style three-layer land-surface water balance, daily step, batched over sites.

This is *not* the VIC model: the VIC executable is not available here, so the water balance
below is written from the papers -- Liang et al. (1994, JGR 99:14415) for the variable
infiltration curve and the ARNO baseflow, Liang et al. (1996) for the thin top layer of the
three-layer form, Todini (1996) for the ARNO/Xinanjiang curve, Franchini & Pacciani (1991)
for the ARNO baseflow -- with VIC's parameter names, and it drops VIC's energy balance,
vegetation tiles, canopy interception, elevation bands and frozen soil. Potential ET is a
forcing (e.g. from :mod:`dplrepro.physics.pet`).

State per site (mm): snowpack ``S`` and the water content ``W1``, ``W2``, ``W3`` of three soil
layers; the capacity of layer ``i`` is ``Wi_max = POROSITY * DEPTH_i * 1000``. One day, for
precipitation ``P``, air temperature ``T`` and potential ET ``PET``, in this order:

1. Snow (degree-day): ``snow = P if T < TT else 0``; ``rain = P - snow``; ``S += snow``;
   ``melt = min(CFMAX * max(T - TT, 0), S)``; ``S -= melt``; ``water = rain + melt``.
2. Infiltration over layers 1+2 by the variable infiltration curve (Liang et al. 1994)
   with ``W = W1 + W2``, ``Wm = W1_max + W2_max``, ``b = INFILT``::

       i_m = (1 + b) Wm;    i0 = i_m [1 - (1 - W / Wm) ** (1 / (1 + b))]
       R = water - (Wm - W)                                        if water + i0 >= i_m
       R = water - (Wm - W) + Wm (1 - (i0 + water) / i_m) ** (1 + b)  otherwise

   written as one expression, ``R = water - (Wm - W) + Wm max(a - water / i_m, 0) ** (1 + b)`` with
   ``a = (1 - W / Wm) ** (1 / (1 + b)) = 1 - i0 / i_m``, clipped to ``[0, water]`` against
   round-off. The infiltration ``water - R`` (never more than ``Wm - W``) enters layer 1; what
   does not fit there passes straight on to layer 2.
3. Evapotranspiration from layers 1 and 2 (a stand-in for VIC's bare-soil evaporation and
   transpiration; the root zone is taken as layers 1+2)::

       beta_i = min(1, Wi / (0.75 Wi_max));   w_i = DEPTH_i / (DEPTH_1 + DEPTH_2)
       E_i = min(PET w_i beta_i, Wi);         et = E_1 + E_2

   i.e. ``et = PET * sum_i w_i beta_i``: the depth-weighted moisture stress, unstressed above
   75 % of capacity, taken from each layer in proportion to its share and never more than it holds.
   This is ``et_stress="linear"``, the default. ``et_stress="vic"`` is the VIC form (3b below).

3b. ``et_stress="vic"``: VIC's soil-moisture stress of transpiration (Liang et al. 1994, eq. 9-12;
   VIC documentation, ``Wcr_FRACT``/``Wpwp_FRACT``), per layer ``i`` with root fraction ``r_i``::

       beta_i = clamp((Wi - Wwp_i) / (Wcr_i - Wwp_i), 0, 1)
       E_i = min(PET r_i beta_i, max(Wi - Wwp_i, 0));   et = E_1 + E_2 + E_3

   i.e. ``et = PET * sum_i r_i beta_i`` unless a layer has less water above its wilting point
   than its share: no ET from a layer below its wilting point, unstressed above its critical
   point, linear in between; the model also returns the root-weighted stress
   ``beta = sum_i r_i beta_i`` (``OUTPUTS_VIC_ET``). The wilting and critical points come from the
   calibrated parameters: the Brooks-Corey retention curve ``S(psi) = (psi_b / psi) ** lambda``
   with the layer's own ``lambda = 2 / (EXPT_i - 3)`` (``EXPT = 3 + 2 / lambda``), an air-entry
   suction ``psi_b = 0.26 m`` (Cosby et al. 1984 regression, loam 40 % sand / 20 % clay, the
   texture of ``DEFAULT_FIXED``), wilting at 1500 kPa (152.96 m) and field capacity at 33 kPa
   (3.365 m) of suction, as fractions of the layer's capacity ``Wi_max``::

       Wwp_i = Wi_max S(152.96 m);   Wfc_i = Wi_max S(3.365 m)
       Wcr_i = Wwp_i + (1 - p) (Wfc_i - Wwp_i),   p = 0.5

   The critical point is placed as in FAO-56 (Allen et al. 1998, eq. 84, depletion fraction
   ``p = 0.5``), not at VIC's rule of thumb ``0.7 Wfc``, which falls below the wilting point of
   this retention curve for ``EXPT > 24.4`` (fine soils) and would invert the stress band; with
   ``p`` the band ``Wcr - Wwp`` is positive for every ``EXPT > 3``. E.g. ``EXPT = 17``:
   ``S_wp = 0.402``, ``S_fc = 0.694``, ``S_cr = 0.548``. Roots: fixed fractions per layer,
   ``root_fractions`` (default ``(0.3, 0.6, 0.1)``, close to Jackson et al.'s 1996 global root
   profile ``1 - 0.966 ** depth_cm`` for 0.1 / 0.8 / 1.05 m layers, with the rest below put in
   layer 3). There is no separate bare-soil evaporation. ET from layer 3 is taken in stage 3,
   before its baseflow. (The sum ``0.3 + 0.6 + 0.1`` is ``1 - 1e-16`` in floating point: an
   unstressed day has ``beta`` within round-off of 1.)
4. ARNO baseflow from layer 3 (Franchini & Pacciani 1991; Liang et al. 1994), on the
   content at the start of this stage::

       Qb = Ds Dsmax / (Ws W3_max) W3                                       W3 <= Ws W3_max
          + (Dsmax - Ds Dsmax / Ws) ((W3 - Ws W3_max) / (W3_max - Ws W3_max)) ** 2   above
       Qb = min(Qb, W3)

5. Free (gravity) drainage through the bottom of layer 3, ``Q3 = KSAT (W3 / W3_max) ** EXPT_3``
   (integrated over the day as in 6.), reported as ``drainage_bottom`` and counted in ``runoff``.
   The papers' bottom layer loses water only by baseflow (and, in VIC, by transpiration), so its
   Brooks-Corey exponent has no role in their water balance; this flux is the role given here to
   ``EXPT_3`` (one of the ten calibrated parameters of Tsai et al. 2021). With a large ``EXPT_3``
   it acts only near saturation, as a smooth overflow of a full bottom layer; fix
   ``EXPT_3 = 30`` to stay close to the papers.
6. Drainage 2->3, then 1->2, by Brooks-Corey gravity drainage ``dW/dt = -KSAT (W / W_max) ** EXPT``
   (the papers' ``Q12``, with residual moisture 0). Evaluated explicitly once a day it would
   empty a layer whenever ``KSAT`` is large (hence sub-daily steps in VIC-type codes); here it
   is integrated exactly over the day for the donor layer alone::

       W(1 day) = W_max [(W / W_max) ** (1 - EXPT) + (EXPT - 1) KSAT / W_max] ** (1 / (1 - EXPT))
       Q = min(W - W(1 day), W_recv_max - W_recv)

   (evaluated with ``logaddexp`` so that float32 does not overflow), so a day's drainage never
   exceeds the water available and does not oscillate at large KSAT, and it is limited by the
   room in the receiving layer. Going bottom-up, each layer drains before it receives the day's
   drainage from above, and a layer emptied by baseflow has room for it the same day.

Every flux leaves one store and enters another (or leaves the column as ``et``, ``runoff``),
the amount is never more than the donor holds, and the water balance
``sum(P) = sum(et) + sum(runoff) + change in (S + W1 + W2 + W3)`` closes to round-off.

Choices documented here
-----------------------
* Ratios inside power laws and logarithms are clamped to ``[eps, 1]`` (``eps = 1e-6``), which
  keeps every gradient finite at a dry or saturated layer (``x ** (1 / (1 + b))`` has an infinite
  slope at ``x = 0``); a flux computed from a clamped ratio is still capped by what the donor
  holds, so the clamp costs no mass.
* ``DEPTH_1`` is 0.05-0.15 m: the lower bound is SMAP's sensing depth (0-5 cm), the range holds
  the 0.1 m top layer VIC is commonly run with (e.g. in NLDAS-2); ``sm_surface = W1 / (DEPTH_1 * 1000)`` is then the
  mean over a layer at least as deep as what SMAP sees (a 5 cm layer reacts fastest).
* If ``Ds > Ws`` the coefficient of the quadratic ARNO term is negative: baseflow stays in
  ``[0, Dsmax]`` and reaches ``Dsmax`` at saturation, but is not monotone above ``Ws``.
* Min/max/clamp kinks have sub-gradients; the rain/snow split is a hard step in ``T - TT``, so
  ``TT`` receives its gradient through melt only.
* Initial state: snowpack 0, each layer at ``initial_fraction`` of its capacity (default 0.5),
  spun up for ``warmup`` days under ``torch.no_grad()``; warm-up days are not returned. (With
  ``warmup=0`` the initial contents carry the gradient of ``POROSITY`` and ``DEPTH_i``.)
* Dynamic parameters (``dynamic=(...)``) are ``[time, site]`` over the whole forcing period,
  warm-up included; static ones are ``[site]``. If a capacity (``POROSITY`` or a ``DEPTH_i``) is
  dynamic and shrinks below the water held, the excess moves down at the start of the day
  (layer 1 -> 2 -> 3) and out of layer 3 as baseflow.

Tensor layout: forcing ``[time, site]``, parameters ``[site]`` (static) or ``[time, site]``
(dynamic), states ``[site]`` inside the time loop, outputs ``[time - warmup, site]``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from .parameters import ParameterSpec, ParameterTable, check_model_inputs
from .time_loop import days, resolve_fused, run_time_loop

__all__ = ["VICStyle", "VIC_STYLE_PARAMETERS", "cosby_soil_parameters", "stress_points", "ET_STRESS_FORMS"]

_EPS = 1e-6
_MM_PER_M = 1000.0
#: ET is unstressed above this fraction of a layer's capacity.
_ET_CRITICAL_FRACTION = 0.75
#: ``et_stress="vic"``: Brooks-Corey air-entry suction (m), wilting and field-capacity suctions (m,
#: 1500 and 33 kPa over 9.807 kPa/m) and the FAO-56 depletion fraction (see the module docstring).
AIR_ENTRY_SUCTION_M = 0.26
WILTING_SUCTION_M = 1500.0 / 9.80665
FIELD_CAPACITY_SUCTION_M = 33.0 / 9.80665
DEPLETION_FRACTION = 0.5
ET_STRESS_FORMS = ("linear", "vic")

VIC_STYLE_PARAMETERS = ParameterTable(
    [
        ParameterSpec("INFILT", 0.001, 0.6, "-", "b_infilt: shape of the variable infiltration curve"),
        ParameterSpec("Ds", 0.001, 1.0, "-", "fraction of Dsmax where nonlinear (ARNO) baseflow begins"),
        ParameterSpec("Dsmax", 0.1, 30.0, "mm/day", "maximum baseflow"),
        ParameterSpec("Ws", 0.2, 1.0, "-", "fraction of layer-3 capacity where nonlinear baseflow begins"),
        ParameterSpec("EXPT_1", 4.0, 30.0, "-", "Brooks-Corey drainage exponent (3 + 2/lambda), layer 1"),
        ParameterSpec("EXPT_2", 4.0, 30.0, "-", "Brooks-Corey drainage exponent, layer 2"),
        ParameterSpec("EXPT_3", 4.0, 30.0, "-", "Brooks-Corey exponent of the free drainage below layer 3"),
        ParameterSpec("DEPTH_1", 0.05, 0.15, "m", "thickness of soil layer 1 (surface layer, SMAP 0-5 cm)"),
        ParameterSpec("DEPTH_2", 0.1, 1.5, "m", "thickness of soil layer 2"),
        ParameterSpec("DEPTH_3", 0.1, 2.0, "m", "thickness of soil layer 3"),
        ParameterSpec("POROSITY", 0.3, 0.6, "m3/m3", "soil porosity (maximum volumetric water content)"),
        ParameterSpec("KSAT", 50.0, 2000.0, "mm/day", "saturated hydraulic conductivity"),
        ParameterSpec("TT", -2.0, 2.0, "degC", "threshold temperature for snowfall and melt"),
        ParameterSpec("CFMAX", 1.0, 8.0, "mm/degC/day", "degree-day melt factor"),
    ]
)

_CALIBRATED = ("INFILT", "Ds", "Dsmax", "Ws", "EXPT_1", "EXPT_2", "EXPT_3", "DEPTH_1", "DEPTH_2", "DEPTH_3")
_CAPACITY = ("POROSITY", "DEPTH_1", "DEPTH_2", "DEPTH_3")
_FORCING = ("prcp", "tmean", "pet")
_LAYERS = ("w1", "w2", "w3")


def cosby_soil_parameters(sand: Any, clay: Any) -> dict[str, Any]:
    """POROSITY (m3/m3), KSAT (mm/day) and the Brooks-Corey EXPT (-) from sand and clay (percent).

    Multivariate regressions of Cosby et al. (1984, Water Resour. Res. 20:682), Table 5:
    ``porosity = (50.5 - 0.142 sand - 0.037 clay) / 100``,
    ``log10 Ksat[in/h] = -0.60 + 0.0126 sand - 0.0064 clay`` (x 25.4 x 24 -> mm/day) and the
    Campbell exponent ``B = 3.10 + 0.157 clay - 0.003 sand``, with ``EXPT = 2 B + 3`` (VIC's
    ``3 + 2 / lambda``, ``lambda = 1 / B``). Works for floats, NumPy/xarray arrays and tensors;
    values are not clipped to the parameter bounds.
    """
    porosity = (50.5 - 0.142 * sand - 0.037 * clay) / 100.0
    ksat = 10.0 ** (-0.60 + 0.0126 * sand - 0.0064 * clay) * 25.4 * 24.0
    b = 3.10 + 0.157 * clay - 0.003 * sand
    return {"POROSITY": porosity, "KSAT": ksat, "EXPT": 2.0 * b + 3.0}


# the order in which VICStyle.forward passes its per-day inputs to _vic_step
_VIC_INPUTS = (
    "snow", "rain", "melt_pot", "wmax1", "wmax2", "wmax3", "wmax12", "inv_wmax12", "bp1", "inv_bp1", "inv_im",
    "pet1", "pet2", "inv_crit1", "inv_crit2", "bf_linear", "bf_threshold", "bf_inv_span", "bf_quadratic",
    "inv_wmax1", "ome1", "inv_ome1", "log_rate1", "inv_wmax2", "ome2", "inv_ome2", "log_rate2",
    "inv_wmax3", "ome3", "inv_ome3", "log_rate3",
)  # fmt: skip
# ``et_stress="vic"``: the linear form's ET inputs replaced by root-share PET, wilting points,
# 1 / (critical - wilting) and the root fractions of the three layers
_VIC_ET_INPUTS = ("pet1", "pet2", "pet3", "wp1", "wp2", "wp3", "inv_band1", "inv_band2", "inv_band3",
                  "root1", "root2", "root3")
_VIC_INPUTS_VIC_ET = tuple(k for k in _VIC_INPUTS if k not in ("pet1", "pet2", "inv_crit1", "inv_crit2")) + _VIC_ET_INPUTS


def stress_points(expt: Any) -> tuple[Any, Any]:
    """Wilting and critical points (fractions of a layer's capacity, -) of ``et_stress="vic"`` for the
    Brooks-Corey exponent ``expt`` (> 3; a float or tensor); see the module docstring, 3b."""
    lam = 2.0 / (expt - 3.0)
    wilting = (AIR_ENTRY_SUCTION_M / WILTING_SUCTION_M) ** lam  # float ** tensor is a tensor
    field = (AIR_ENTRY_SUCTION_M / FIELD_CAPACITY_SUCTION_M) ** lam
    return wilting, wilting + (1.0 - DEPLETION_FRACTION) * (field - wilting)


def _drain(w, wmax, inv_wmax, one_minus_expt, inv_one_minus_expt, log_rate):
    """Water (mm) leaving a layer in one day by ``dW/dt = -KSAT (W / Wmax) ** EXPT``, integrated exactly.

    ``x(1) = [x ** (1 - EXPT) + (EXPT - 1) KSAT / Wmax] ** (1 / (1 - EXPT))`` in log form, with
    ``log_rate = log((EXPT - 1) KSAT / Wmax)``. Never negative, never more than ``w``.
    """
    x = (w * inv_wmax).clamp(_EPS, 1.0)
    log_x_end = torch.logaddexp(one_minus_expt * torch.log(x), log_rate) * inv_one_minus_expt
    return torch.relu(w - wmax * torch.exp(log_x_end))


def _vic_step(snowpack, w1, w2, w3, *inputs_and_extras):
    """One day for all sites: stores and inputs (in the order of ``_VIC_INPUTS``, or of
    ``_VIC_INPUTS_VIC_ET`` for the VIC ET form) are ``[site]`` (mm).

    The last two arguments are constants: ``spill`` (move water above a (dynamic) capacity
    down) and ``vic_et`` (the ET stress form ``"vic"`` instead of ``"linear"``). A pure function
    of tensors so that :func:`torch.compile` can fuse it. Returns the stores ``snowpack, w1, w2,
    w3`` after the day, then ``et, runoff_surface, baseflow, drainage_bottom`` (mm/day), and with
    ``vic_et`` the root-weighted stress ``beta`` (-).
    """
    *inputs, spill, vic_et = inputs_and_extras
    x = dict(zip(_VIC_INPUTS_VIC_ET if vic_et else _VIC_INPUTS, inputs))
    spilled = None
    if spill:  # a dynamic capacity shrank below the content: move the excess down
        new = torch.minimum(w1, x["wmax1"])
        w2, w1 = w2 + (w1 - new), new
        new = torch.minimum(w2, x["wmax2"])
        w3, w2 = w3 + (w2 - new), new
        new = torch.minimum(w3, x["wmax3"])
        spilled, w3 = w3 - new, new
    # 1. snow
    pack = snowpack + x["snow"]
    melt = torch.minimum(x["melt_pot"], pack)
    pack = pack - melt
    water = x["rain"] + melt
    # 2. variable infiltration curve over layers 1 + 2
    deficit = torch.relu(x["wmax12"] - (w1 + w2))
    a = (deficit * x["inv_wmax12"]).clamp(_EPS, 1.0).pow(x["inv_bp1"])
    rest = torch.relu(a - water * x["inv_im"]).pow(x["bp1"])
    surface = torch.minimum((water - deficit + x["wmax12"] * rest).clamp(min=0.0), water)
    w1 = w1 + (water - surface)
    new = torch.minimum(w1, x["wmax1"])
    w2, w1 = w2 + (w1 - new), new
    # 3. evapotranspiration from layers 1 and 2 (linear), or from every rooted layer (vic)
    if vic_et:
        beta1 = ((w1 - x["wp1"]) * x["inv_band1"]).clamp(0.0, 1.0)
        beta2 = ((w2 - x["wp2"]) * x["inv_band2"]).clamp(0.0, 1.0)
        beta3 = ((w3 - x["wp3"]) * x["inv_band3"]).clamp(0.0, 1.0)
        e1 = torch.minimum(x["pet1"] * beta1, torch.relu(w1 - x["wp1"]))
        e2 = torch.minimum(x["pet2"] * beta2, torch.relu(w2 - x["wp2"]))
        e3 = torch.minimum(x["pet3"] * beta3, torch.relu(w3 - x["wp3"]))
        w1 = w1 - e1
        w2 = w2 - e2
        w3 = w3 - e3
        et = e1 + e2 + e3
    else:
        e1 = torch.minimum(x["pet1"] * (w1 * x["inv_crit1"]).clamp(max=1.0), w1)
        e2 = torch.minimum(x["pet2"] * (w2 * x["inv_crit2"]).clamp(max=1.0), w2)
        w1 = w1 - e1
        w2 = w2 - e2
        et = e1 + e2
    # 4. ARNO baseflow from layer 3
    above = torch.relu(w3 - x["bf_threshold"]) * x["bf_inv_span"]
    baseflow = torch.minimum(x["bf_linear"] * w3 + x["bf_quadratic"] * above * above, w3)
    w3 = w3 - baseflow
    if spilled is not None:
        baseflow = baseflow + spilled
    # 5. free drainage below layer 3
    bottom = _drain(w3, x["wmax3"], x["inv_wmax3"], x["ome3"], x["inv_ome3"], x["log_rate3"])
    w3 = w3 - bottom
    # 6. drainage 2 -> 3, then 1 -> 2, limited by the room below
    q23 = torch.minimum(
        _drain(w2, x["wmax2"], x["inv_wmax2"], x["ome2"], x["inv_ome2"], x["log_rate2"]),
        torch.relu(x["wmax3"] - w3),
    )
    w2 = w2 - q23
    w3 = w3 + q23
    q12 = torch.minimum(
        _drain(w1, x["wmax1"], x["inv_wmax1"], x["ome1"], x["inv_ome1"], x["log_rate1"]),
        torch.relu(x["wmax2"] - w2),
    )
    w1 = w1 - q12
    w2 = w2 + q12
    if vic_et:
        stress = x["root1"] * beta1 + x["root2"] * beta2 + x["root3"] * beta3
        return pack, w1, w2, w3, et, surface, baseflow, bottom, stress
    return pack, w1, w2, w3, et, surface, baseflow, bottom


class VICStyle(nn.Module):
    """Differentiable VIC-style three-layer water balance; see the module docstring for the equations.

    Parameters
    ----------
    warmup: days at the start of the forcing run without gradient and not returned.
    dynamic: names of parameters given as ``[time, site]`` (others ``[site]``).
    fixed: ``{name: value}`` of parameters held at a constant (within their bounds) for every
        site and day; they are then not passed to :meth:`forward` and not in
        :attr:`parameter_table`. E.g. ``fixed=VICStyle.DEFAULT_FIXED`` leaves the ten
        :attr:`CALIBRATED` parameters of the paper.
    initial_fraction: initial water content of each layer as a fraction of its capacity
        (a float, or ``{"w1": ..., "w2": ..., "w3": ...}``); the snowpack starts empty.
    compiled: fuse each day into one kernel with an adjoint backward pass (``True``), run eager
        (``False``), or fuse on a CUDA device only (``"auto"``, default); see
        :mod:`dplrepro.physics.time_loop` and the ``compiled`` argument of :class:`HBV`.
    et_stress: the soil-moisture stress of ET: ``"linear"`` (default, step 3 of the module
        docstring) or ``"vic"`` (VIC's wilting/critical-point form, step 3b).
    root_fractions: with ``et_stress="vic"``, the fraction of roots (-) in layers 1, 2, 3
        (non-negative, summing to 1); ignored (and must stay at its default) otherwise.
    check_values: refuse non-finite forcing, negative precipitation or PET and parameters
        outside their bounds (:func:`~dplrepro.physics.parameters.check_model_inputs`) with an
        error naming them (default); ``False`` skips these checks, for experts.

    ``forward(forcing, params)`` -> ``dict[str, Tensor[time - warmup, site]]`` with keys
    :attr:`outputs` (:attr:`OUTPUTS`, plus ``beta`` with ``et_stress="vic"``); ``forward(..., return_states=True)`` -> ``(fluxes, states)`` with
    ``states = {"initial": {...}, "final": {...}}``, each ``{store: Tensor[site]}`` in mm for the
    stores :attr:`STORES`; "initial" is the state at the start of the returned period.
    """

    PARAMETERS: ParameterTable = VIC_STYLE_PARAMETERS
    CALIBRATED: tuple[str, ...] = _CALIBRATED
    #: Loam-like constants for the non-calibrated parameters (Cosby et al. 1984 loam: ~0.45, ~300 mm/day).
    DEFAULT_FIXED: Mapping[str, float] = {"POROSITY": 0.45, "KSAT": 300.0, "TT": 0.0, "CFMAX": 3.0}
    STORES = ("snowpack", "w1", "w2", "w3")
    OUTPUTS = (
        "sm_surface", "sm_layer2", "sm_layer3", "et", "runoff_surface", "baseflow", "drainage_bottom",
        "runoff", "snowpack", "w1", "w2", "w3",
    )  # fmt: skip
    #: With ``et_stress="vic"``: also the root-weighted soil-moisture stress ``beta`` (-, 1 = unstressed).
    OUTPUTS_VIC_ET = OUTPUTS + ("beta",)
    DEFAULT_ROOT_FRACTIONS = (0.3, 0.6, 0.1)

    def __init__(
        self,
        warmup: int = 365,
        dynamic: Sequence[str] = (),
        fixed: Mapping[str, float] | None = None,
        initial_fraction: float | Mapping[str, float] = 0.5,
        compiled: bool | str = "auto",
        et_stress: str = "linear",
        root_fractions: Sequence[float] = DEFAULT_ROOT_FRACTIONS,
        check_values: bool = True,
    ) -> None:
        super().__init__()
        self.check_values = bool(check_values)
        if et_stress not in ET_STRESS_FORMS:
            raise ValueError(f"et_stress must be one of {ET_STRESS_FORMS}, got {et_stress!r}")
        roots = tuple(float(r) for r in root_fractions)
        if len(roots) != 3 or min(roots) < 0 or abs(sum(roots) - 1.0) > 1e-6:
            raise ValueError(f"root_fractions must be three fractions >= 0 (layers 1, 2, 3) summing to 1, got {roots}")
        if et_stress == "linear" and roots != self.DEFAULT_ROOT_FRACTIONS:
            raise ValueError("root_fractions apply to et_stress='vic' only; the linear form takes the root zone as "
                             "layers 1+2 weighted by depth")
        self.et_stress = et_stress
        self.root_fractions = roots
        if int(warmup) < 0:
            raise ValueError(f"warmup must be >= 0 days, got {warmup}")
        self.warmup = int(warmup)
        table = self.PARAMETERS

        fixed = dict(fixed or {})
        for name, value in fixed.items():
            spec = table[name]  # unknown name -> UnknownParameterError listing the valid ones
            value = float(value)
            if not spec.low <= value <= spec.high:
                raise ValueError(
                    f"fixed {name}={value:g} is outside its bounds [{spec.low:g}, {spec.high:g}] {spec.unit}"
                )
            fixed[name] = value
        self.fixed = {n: fixed[n] for n in table.names if n in fixed}

        if isinstance(dynamic, str):
            dynamic = (dynamic,)
        self.dynamic = tuple(dynamic)
        unknown = [n for n in self.dynamic if n not in table]
        if unknown:
            raise ValueError(f"dynamic parameters {unknown} are not parameters of VICStyle: {list(table.names)}")
        both = [n for n in self.dynamic if n in self.fixed]
        if both:
            raise ValueError(f"parameters {both} cannot be both fixed and dynamic")

        if isinstance(initial_fraction, Mapping):
            if set(initial_fraction) != set(_LAYERS):
                raise ValueError(
                    f"initial_fraction needs exactly the keys {list(_LAYERS)}, got {sorted(initial_fraction)}"
                )
            fractions = {k: float(initial_fraction[k]) for k in _LAYERS}
        else:
            fractions = {k: float(initial_fraction) for k in _LAYERS}
        for k, v in fractions.items():
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"initial_fraction for {k} must be in [0, 1], got {v}")
        self.initial_fraction = fractions
        self._spill = any(n in self.dynamic for n in _CAPACITY)
        resolve_fused(compiled, torch.device("cpu"))  # validates the value
        self.compiled = compiled

    @property
    def parameter_table(self) -> ParameterTable:
        """The parameters :meth:`forward` needs: all of :attr:`PARAMETERS` except the fixed ones."""
        return self.PARAMETERS.subset(n for n in self.PARAMETERS.names if n not in self.fixed)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The keys :meth:`forward` returns."""
        return self.OUTPUTS_VIC_ET if self.et_stress == "vic" else self.OUTPUTS

    def extra_repr(self) -> str:
        text = f"warmup={self.warmup}, dynamic={self.dynamic}, fixed={self.fixed}"
        if self.et_stress != "linear":
            text += f", et_stress={self.et_stress!r}, root_fractions={self.root_fractions}"
        return text

    # ------------------------------------------------------------------ checks
    def _check_inputs(self, forcing: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]):
        return check_model_inputs("VICStyle", forcing, _FORCING, params, self.parameter_table, warmup=self.warmup,
                                  dynamic=self.dynamic, components=(), fixed=self.fixed,
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
        prcp, temp, pet = forcing["prcp"], forcing["tmean"], forcing["pet"]
        like = dict(dtype=prcp.dtype, device=prcp.device)
        p = dict(params)
        for name, value in self.fixed.items():
            p[name] = torch.full((n_site,), value, **like)

        # --- everything that does not depend on state, for all steps at once ---------------
        zero = torch.zeros((), **like)
        snow = torch.where(temp < p["TT"], prcp, zero)
        rain = prcp - snow
        melt_pot = p["CFMAX"] * torch.relu(temp - p["TT"])

        depth = [p["DEPTH_1"], p["DEPTH_2"], p["DEPTH_3"]]
        wmax = [p["POROSITY"] * d * _MM_PER_M for d in depth]
        inv_wmax = [1.0 / w for w in wmax]
        wmax12 = wmax[0] + wmax[1]
        bp1 = 1.0 + p["INFILT"]
        share1 = depth[0] / (depth[0] + depth[1])
        x = {
            "snow": snow, "rain": rain, "melt_pot": melt_pot,
            "wmax1": wmax[0], "wmax2": wmax[1], "wmax3": wmax[2],
            # infiltration curve
            "wmax12": wmax12, "inv_wmax12": 1.0 / wmax12, "bp1": bp1, "inv_bp1": 1.0 / bp1,
            "inv_im": 1.0 / (bp1 * wmax12),
            # ET (linear): PET share of each layer, 1 / (0.75 capacity)
            "pet1": pet * share1, "pet2": pet * (1.0 - share1),
            "inv_crit1": inv_wmax[0] / _ET_CRITICAL_FRACTION, "inv_crit2": inv_wmax[1] / _ET_CRITICAL_FRACTION,
            # ARNO baseflow
            "bf_linear": p["Ds"] * p["Dsmax"] / (p["Ws"] * wmax[2]),
            "bf_threshold": p["Ws"] * wmax[2],
            "bf_inv_span": 1.0 / ((1.0 - p["Ws"]).clamp(min=_EPS) * wmax[2]),
            "bf_quadratic": p["Dsmax"] * (1.0 - p["Ds"] / p["Ws"]),
        }  # fmt: skip
        for i in range(3):
            expt = p[f"EXPT_{i + 1}"]
            x[f"inv_wmax{i + 1}"] = inv_wmax[i]
            x[f"ome{i + 1}"] = 1.0 - expt
            x[f"inv_ome{i + 1}"] = 1.0 / (1.0 - expt)
            x[f"log_rate{i + 1}"] = torch.log((expt - 1.0) * p["KSAT"] * inv_wmax[i])
        vic_et = self.et_stress == "vic"
        if vic_et:  # ET (vic): PET share of each layer's roots, wilting point, 1 / (critical - wilting)
            for i in range(3):
                wilting, critical = stress_points(p[f"EXPT_{i + 1}"])
                x[f"pet{i + 1}"] = pet * self.root_fractions[i]
                x[f"wp{i + 1}"] = wilting * wmax[i]
                x[f"inv_band{i + 1}"] = inv_wmax[i] / (critical - wilting).clamp(min=_EPS)
                x[f"root{i + 1}"] = torch.full((), self.root_fractions[i], **like)
        inputs = [x[k] for k in (_VIC_INPUTS_VIC_ET if vic_et else _VIC_INPUTS)]
        fused = resolve_fused(self.compiled, prcp.device)
        extras = (self._spill, vic_et)

        state = [torch.zeros(n_site, **like)]  # snowpack
        for i, k in enumerate(_LAYERS):
            w = wmax[i][0] if wmax[i].dim() == 2 else wmax[i]
            state.append((self.initial_fraction[k] * w).expand(n_site))
        state = tuple(state)

        # --- warm-up: no graph, no outputs ------------------------------------------------
        if warmup:
            with torch.no_grad():
                warm = run_time_loop(_vic_step, state, days(inputs, 1, 0, warmup), warmup,
                                     extras=extras, fused=fused)
            state = tuple(v[-1] for v in warm[: len(self.STORES)])
        initial = dict(zip(self.STORES, state))

        # --- simulation: _vic_step returns the 4 stores, then et, surface runoff, baseflow, bottom drainage
        keys = self.STORES + ("et", "runoff_surface", "baseflow", "drainage_bottom") + (("beta",) if vic_et else ())
        sim = run_time_loop(_vic_step, state, days(inputs, 1, warmup), n_time - warmup,
                            extras=extras, fused=fused)
        out = dict(zip(keys, sim))  # [time - warmup, site]
        state = {k: out[k][-1] for k in self.STORES}
        out["runoff"] = out["runoff_surface"] + out["baseflow"] + out["drainage_bottom"]
        for i, name in enumerate(("sm_surface", "sm_layer2", "sm_layer3")):
            d = depth[i][warmup:] if depth[i].dim() == 2 else depth[i]
            out[name] = out[_LAYERS[i]] / (d * _MM_PER_M)

        out = {k: out[k] for k in self.outputs}
        if return_states:
            return out, {"initial": initial, "final": dict(state)}
        return out

    def water_balance(
        self, forcing: Mapping[str, torch.Tensor], fluxes: Mapping[str, torch.Tensor], states
    ) -> torch.Tensor:
        """Residual ``P - ET - runoff - dS`` (mm, ``Tensor[site]``) over the returned period; ~0 up to round-off."""
        p_sum = forcing["prcp"][self.warmup :].sum(0)
        d_s = sum(states["final"][k] - states["initial"][k] for k in self.STORES)
        return p_sum - fluxes["et"].sum(0) - fluxes["runoff"].sum(0) - d_s
