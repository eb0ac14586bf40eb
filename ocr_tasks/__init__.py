"""ocr_tasks: the batch OCR library (engine, storage, lake, batching, monitoring).

``flows/`` imports this package; this package never imports ``flows``.
"""

__version__ = "0.1.0"
