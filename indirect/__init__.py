"""indirect: language-guided zero-shot deep metric learning (InDiReCT, WACV 2023) as a toolkit."""
__version__ = "0.1.0"


def __getattr__(name):
    """``from indirect import NotionSpace`` without importing torch and faiss on ``import indirect``."""
    if name == "NotionSpace":
        from indirect.search import NotionSpace

        return NotionSpace
    raise AttributeError(f"module 'indirect' has no attribute {name!r}")
