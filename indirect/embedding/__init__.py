"""Image and prompt embeddings, computed in batches and cached in HDF5."""
from indirect.embedding.extract import embed_images
from indirect.embedding.text_cache import embed_texts

__all__ = ["embed_images", "embed_texts"]
