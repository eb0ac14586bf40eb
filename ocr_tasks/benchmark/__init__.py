"""Cost per page: the engine alone, the full flow and Tesseract measured side by side.

``pageset`` makes and reads the pages (generated documents with known text, FUNSD folders),
``systems`` runs each system on them and measures CPU, wall time and memory, ``report``
scores and tabulates. ``bench/cost_per_page.py`` (``make bench``) is the command.
"""
