"""The methods stage: every selected method fitted as its kind requires, over the run's seeds."""
from __future__ import annotations

from dataclasses import dataclass

from indirect.errors import ProjectorError
from indirect.experiment.embeddings import Embeddings
from indirect.experiment.selection import MethodSpec
from indirect.projectors import NotApplicable


@dataclass
class FittedMethod:
    name: str        # the results' row: the projector's method_name (e.g. 'indirect+ignore') or its methods key
    seed: int
    projector: object


def fit_method(spec: MethodSpec, seed: int, embeddings: Embeddings):
    """Fit on the prompts (most methods) or on the labelled images (the oracle); a projector's
    refusal names the config key it came from."""
    projector = spec.build(seed, embeddings.ignore_text)
    data, target = (embeddings.images, embeddings.labels) if projector.fit_on == "images" else (embeddings.text, None)
    try:
        return projector.fit(data, target)
    except NotApplicable:
        raise
    except ProjectorError as error:
        raise ProjectorError(f"{spec.key}: {str(error).splitlines()[0]}") from error


class Fitted(list):
    """The fitted methods, in order, plus ``not_applicable``: ``{method: reason}`` for the methods
    whose ``fit`` raised :class:`NotApplicable` (the paper's "-"), none of whose seeds is kept."""

    def __init__(self, methods=(), not_applicable: dict[str, str] | None = None):
        super().__init__(methods)
        self.not_applicable = dict(not_applicable or {})


def fit_methods(specs: list[MethodSpec], seed: int, repetitions: int, embeddings: Embeddings) -> Fitted:
    """Seeds ``seed .. seed + repetitions - 1`` for a method whose result depends on its seed, one
    fit otherwise (read off the first fitted instance, since it can depend on options). A method
    the run's options make not applicable is dropped whole, its reason kept."""
    fitted = Fitted()
    for spec in specs:
        runs = []
        for repetition in range(repetitions):
            try:
                projector = fit_method(spec, seed + repetition, embeddings)
            except NotApplicable as error:
                name = spec.name(spec.build(seed, embeddings.ignore_text))
                fitted.not_applicable[name] = str(error).splitlines()[0]
                runs = []
                break
            runs.append(FittedMethod(spec.name(projector), seed + repetition, projector))
            if not projector.depends_on_seed:
                break
        fitted.extend(runs)
    return fitted
