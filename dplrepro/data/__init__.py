"""The data layer: everything returns xarray objects with named dims (``basin``/``cell``, ``time``).

One setting locates data: ``$DPLREPRO_DATA`` (else the project's ``data/``), see
:mod:`dplrepro.data.paths`. Modules:

* readers      :mod:`camels_us`, :mod:`camels_gb`, :mod:`caravan`, :mod:`smap`, :mod:`natural_earth`
* raw archives :mod:`download` (official URLs, SHA-256), :mod:`prepare` (raw layout -> NetCDF)
* :mod:`splits` (time windows, sN density, neighbours, PUB folds), :mod:`normalize` (fitted on
  training data only), :mod:`twin` (the synthetic twin: ``make_virtual_basins``,
  ``make_virtual_grid``; import it from :mod:`dplrepro.data.twin`); PET formulas live in
  :mod:`dplrepro.physics.pet`
* :mod:`checks` (units read and converted or refused, value ranges, and the notes of what was
  left out), :mod:`sources` (real data or the twin, and which one was used), :mod:`catalog`
  (what is present and valid)
"""

from .camels_gb import load_camels_gb
from .camels_us import HYDRO_SIGNATURE_ATTRIBUTES, load_camels_us, static_attributes
from .caravan import available_caravan_sources, load_caravan_attributes
from .catalog import DATASETS, check_datasets
from .download import download_camels_us, fetch_archive
from .errors import ChecksumError, DataError, DataFormatError, DataNotFoundError, UnknownSiteError
from .et import aggregate_8day, load_mod16a2
from .natural_earth import cartopy_offline, natural_earth_geojson, natural_earth_geometries
from .normalize import Normalizer
from .paths import data_dir, require
from .prepare import prepare_camels_us
from .smap import grid_indices, load_smap_conus
from .sources import DataChoice, open_basins, open_grid
from .splits import (
    CAMELS_TEST,
    CAMELS_TRAIN,
    PAPER_DENSITY,
    SMAP_TEST_1Y,
    SMAP_TRAIN_1Y,
    SMAP_TRAIN_2Y,
    TimeWindow,
    density_mask,
    neighbour_cells,
    pub_folds,
    subsample_basins,
)

__all__ = [
    "aggregate_8day", "load_mod16a2", "CAMELS_TEST", "CAMELS_TRAIN", "ChecksumError", "DATASETS", "DataChoice", "DataError", "DataFormatError",
    "DataNotFoundError", "HYDRO_SIGNATURE_ATTRIBUTES", "Normalizer", "PAPER_DENSITY", "SMAP_TEST_1Y",
    "SMAP_TRAIN_1Y", "SMAP_TRAIN_2Y", "TimeWindow", "UnknownSiteError", "available_caravan_sources",
    "cartopy_offline", "check_datasets", "data_dir", "density_mask", "download_camels_us",
    "fetch_archive", "grid_indices", "load_caravan_attributes", "load_camels_gb", "load_camels_us",
    "load_smap_conus", "natural_earth_geojson", "natural_earth_geometries", "neighbour_cells", "open_basins",
    "open_grid", "prepare_camels_us", "pub_folds", "require", "static_attributes", "subsample_basins",
]
