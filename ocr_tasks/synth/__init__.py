"""Synthetic insurance documents with exact ground truth.

Used for the bundled sample archive (``archive.make_sample_archive``) and for the canary
pages injected into every OCR batch to measure character error rate (``canary.render_canary``).
Everything is a pure function of a seed; fonts come from matplotlib so no system fonts are
needed.
"""

from ocr_tasks.synth.canary import CanaryPage, canary_seed, render_canary

__all__ = ["CanaryPage", "canary_seed", "render_canary"]
