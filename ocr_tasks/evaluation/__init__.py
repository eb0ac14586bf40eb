"""Accuracy: detection and recognition metrics, FUNSD evaluation, the Tesseract baseline."""
