"""``python -m ocr_tasks.cli``: the same as the ``ocr-pipeline`` console script."""

import sys

from ocr_tasks.cli import main

sys.exit(main())
