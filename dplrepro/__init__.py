"""dplrepro: an executable companion to Tsai et al. (2021), *From calibration to parameter
learning* (Nat. Commun. 12:5988).

Layout, in layers: a module imports only its own layer and the layers above it
(``tests/test_layout.py`` fails on an import cycle or an upward import, counting imports
inside functions):

1. ``utils`` (devices, seeds, atomic writes, config hashes), ``cache`` (content keys: data files by
   content, code, package versions), ``metrics`` (Bias, Corr, RMSE,
   ubRMSE, NSE, KGE + components, FHV, FLV), ``losses``, ``evidence`` (each claim's rule,
   bootstrap intervals, verdicts), ``data.errors``
2. ``physics``: the process models and what they need -- HBV, VIC-style, routing, the one
   daily time loop (eager or fused), every PET formula, named parameter bounds
3. ``data``: readers (CAMELS-US/GB, Caravan, SMAP + NLDAS, Natural Earth), download and
   prepare, time windows and splits, normalisation, climate groups, the synthetic twin
   (``data.twin``)
4. ``nets``: gA / gz / static parameter networks, the dPL coupling (``DplModel``), the LSTM
   surrogate, the SMAP gap-filling forecaster; ``train``: the one Trainer
5. ``calibrate``: classic baselines (batched SCE-UA, linear transfer functions)
6. ``results``: the results schema (every chapter's summary keys, typed), run records
7. ``experiments``: each experiment's profiles (configuration dataclasses), pipeline
   functions and summary builders -- data_tour, streamflow (CAMELS), grid, surrogate,
   soil_moisture, et_twin, pub, scaling
8. ``chapters`` (the chapter API: papermill parameters -> run record + validated
   configuration), ``comparison`` (the paper's claims vs the summaries), ``performance``
   (benchmark records), ``plots``
9. ``book``: the papermill runner (cache; chapters that read other chapters) and the
   Jupyter Book build
10. ``cli``: the ``dplrepro`` command
"""

__version__ = "0.1.0"
