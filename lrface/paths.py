"""Where real data lives (kept for its import path): see :mod:`lrface.settings`."""
from lrface.settings import data_root

__all__ = ["data_root"]
