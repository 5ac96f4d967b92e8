"""The evaluation stage: each fitted method's image embeddings scored on the notion's labels
(and, with ``ignore``, on the ignored notion's labels: how much of it is left)."""
from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import DictConfig, OmegaConf

from indirect.experiment.embeddings import Embeddings
from indirect.experiment.fitting import FittedMethod


@dataclass
class Scores:
    """Per method, one metrics dict per seed; ``ignored`` the same on the ignored notion's labels."""

    runs: dict[str, list[dict]] = field(default_factory=dict)
    ignored: dict[str, list[dict]] = field(default_factory=dict)


def evaluate_methods(fitted: list[FittedMethod], embeddings: Embeddings, evaluation_cfg: DictConfig) -> Scores:
    from indirect.metrics import evaluate

    options = OmegaConf.to_container(evaluation_cfg, resolve=True)
    scores = Scores()
    for method in fitted:
        projected = method.projector.transform(embeddings.images)
        scores.runs.setdefault(method.name, []).append(evaluate(projected, embeddings.labels, seed=method.seed, **options))
        if embeddings.ignore_labels is not None:
            scores.ignored.setdefault(method.name, []).append(
                evaluate(projected[embeddings.ignore_keep], embeddings.ignore_labels, seed=method.seed, **options))
    return scores
