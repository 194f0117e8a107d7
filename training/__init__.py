"""Training side of IRIIS Phyto: data preparation, fine-tuning, calibration, export, evaluation.

The only package that imports torch, and only in the modules that train or export; data
preparation runs without it.
"""
