"""The ground floor: settings, the one exception hierarchy with exit codes, geometry.

Everything else in ``ocr_tasks`` may import from here; nothing here imports anything else.
"""
