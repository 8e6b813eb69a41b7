"""The web UI: ``python ui.py`` (same as ``rag serve``). The app itself is :mod:`rag.ui`."""

import sys

from rag.ui import main

if __name__ == "__main__":
    sys.exit(main())
