"""One experiment, ``run(cfg) -> (results, objects)``, in stages with one job each.

``validation`` refuses malformed values before anything is loaded; ``inputs`` reads the images,
the notion's labels and its prompts; ``embeddings`` embeds them (``embed_shard`` is the
sharded-extraction path); ``selection`` says which methods run; ``fitting`` fits them over the
seeds; ``evaluation`` scores them; ``report`` writes results.json, the tables and the tracker.
"""
from indirect.experiment.runner import RunObjects, run

__all__ = ["RunObjects", "run"]
