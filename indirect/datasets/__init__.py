"""Dataset loaders: each returns :class:`LabelledImages` for the evaluation split."""
from indirect.datasets.base import DatasetError, LabelledImages, require_root

__all__ = ["DatasetError", "LabelledImages", "require_root"]
