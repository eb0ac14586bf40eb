"""Synthetic insurance documents with exact ground truth.

Used for the bundled sample archive (``archive.make_sample_archive``), for the canary pages
injected into every OCR batch to measure character error rate (``canary.render_canary``), and
for training data (``documents.training_spec``, label-exact ``augment``; written as a dataset
by ``datasets.synthetic``). Everything is a pure function of a seed; canaries and samples use
only matplotlib's fonts, training data also the installed Debian font packages.
"""

from ocr_tasks.synth.canary import CanaryPage, canary_seed, render_canary

__all__ = ["CanaryPage", "canary_seed", "render_canary"]
