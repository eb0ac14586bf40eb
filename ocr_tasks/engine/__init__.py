"""The OCR engine: preprocessing, text detection, recognition, word geometry, backends.

``predictor.get_engine`` gives the per-process engine; ``models`` holds the networks. Kept
import-light on purpose: importing a submodule must not load torch.
"""
