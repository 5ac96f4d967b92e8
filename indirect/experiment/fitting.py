"""The methods stage: every selected method fitted as its kind requires, over the run's seeds."""
from __future__ import annotations

from dataclasses import dataclass

from indirect.errors import ProjectorError
from indirect.experiment.embeddings import Embeddings
from indirect.experiment.selection import MethodSpec


@dataclass
class FittedMethod:
    name: str        # the projector's method_name (e.g. 'indirect+ignore'), the results' row
    seed: int
    projector: object


def fit_method(spec: MethodSpec, seed: int, embeddings: Embeddings):
    """Fit on the prompts (most methods) or on the labelled images (the oracle); a projector's
    refusal names the config key it came from."""
    projector = spec.build(seed, embeddings.ignore_text)
    data, target = (embeddings.images, embeddings.labels) if projector.fit_on == "images" else (embeddings.text, None)
    try:
        return projector.fit(data, target)
    except ProjectorError as error:
        raise ProjectorError(f"{spec.key}: {str(error).splitlines()[0]}") from error


def fit_methods(specs: list[MethodSpec], seed: int, repetitions: int, embeddings: Embeddings) -> list[FittedMethod]:
    """Seeds ``seed .. seed + repetitions - 1`` for a method whose result depends on its seed, one
    fit otherwise (read off the first fitted instance, since it can depend on options)."""
    fitted = []
    for spec in specs:
        for repetition in range(repetitions):
            projector = fit_method(spec, seed + repetition, embeddings)
            fitted.append(FittedMethod(projector.method_name, seed + repetition, projector))
            if not projector.depends_on_seed:
                break
    return fitted
