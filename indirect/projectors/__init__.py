"""Projectors: estimators that map frozen image embeddings to a notion-specific space.

All follow one scikit-learn style contract (:class:`~indirect.projectors.base.Projector`):
``fit(X, y=None) -> self``, ``transform(X)`` returning L2-normalised rows (raw ones for the
baselines built with ``normalize_output=False``, the paper's numerics), ``save``/``load``.
``NotApplicable`` (a ProjectorError) is raised by ``fit`` when a method cannot give a figure at
all (the paper's "-").
Class attributes tell the pipeline how to drive each one: ``method_name``, ``fit_on`` ('text',
'images' or 'none'), ``depends_on_seed`` and ``upper_bound``.
"""
from .autoencoders import Autoencoder, LinearAutoencoder
from .base import NotApplicable, NotFittedError, Projector, ProjectorError, load_projector
from .indirect import InDiReCT, reconstruction_loss, safe_arccos
from .identity import CLIPIdentity
from .ignore import Ignore
from .oracle import Oracle
from .pca import PCAProjector
from .random_projections import RandomEmbedding, RandomTransform

__all__ = [
    "Autoencoder", "CLIPIdentity", "Ignore", "InDiReCT", "LinearAutoencoder", "NotApplicable", "NotFittedError", "Oracle",
    "PCAProjector", "Projector", "ProjectorError", "RandomEmbedding", "RandomTransform", "load_projector",
    "reconstruction_loss", "safe_arccos",
]
