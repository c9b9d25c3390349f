"""dplrepro: an executable companion to Tsai et al. (2021), *From calibration to
parameter learning* (Nat. Commun. 12:5988).

Sub-packages
------------
``dplrepro.data``      readers, prepare/download, PET, splits, normalisation, twin data
``dplrepro.metrics``   Bias, Corr, RMSE, ubRMSE, NSE, KGE (+ components), FHV, FLV
``dplrepro.book``      papermill runner and Jupyter Book builder
``dplrepro.cli``       the ``dplrepro`` command
"""

__version__ = "0.1.0"
