"""Bytes in: object storage (local folders and S3 behind one interface) and rasterization."""
