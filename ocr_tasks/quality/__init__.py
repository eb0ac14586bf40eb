"""Quality inside every run: canaries, sidecar truth, scoring, audits, calibration, reports."""
