"""The demo world's dataset: a seeded generator of labelled 64 px shape images with 7 independent
factors (``dataset=shapes``), so the pipeline runs without any downloaded dataset."""
from indirect.datasets.shapes.generator import load_shapes, object_mask

__all__ = ["load_shapes", "object_mask"]
