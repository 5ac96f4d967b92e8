"""Per-condition notion spaces: which InDiReCT space answers which query, fitted once per space.

A :class:`ConditionSpaces` holds named prompt sets and fits a projector (InDiReCT unless
the run configures another) on a set's text embeddings the first time a query needs it (kept for the rest of the
run: one fit per condition, not per query; text embeddings go through the HDF5 text cache of
``embed_texts``). Subclasses say which space a query uses:

* ``focus_space(query)``: the space of the focus condition (``None``: no vocabulary, raw space);
* ``identity_space(query)``: for a change query, the space of what must stay (``None``: raw space);
* ``condition_space(query)`` and ``condition_text(query)``: the space of what must change and the
  text embedding of the asked value in it (the mean of the unit embeddings of the value's prompts).
"""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Callable

import numpy as np

from indirect.conditional.queries import Query
from indirect.conditional.scorers import unit_rows
from indirect.conditional.shapes_queries import OTHER_FACTOR
from indirect.errors import PromptError
from indirect.projectors import InDiReCT
from indirect.prompts import build_prompts, load_vocabulary

VOCAB_DIR = Path(__file__).resolve().parent / "vocab"
EmbedText = Callable[[list[str]], np.ndarray]
MakeProjector = Callable[[int], object]
"""seed -> an unfitted projector (the run's ``projector`` node); None = InDiReCT with ``n_components``."""


class ConditionSpaces(abc.ABC):
    """Named prompt sets (``templates`` x ``words``) and their fitted spaces."""

    def __init__(self, embed_text: EmbedText, templates: dict[str, list[str]], words: dict[str, list[str]],
                 n_components: int = 128, seed: int = 0, make_projector: MakeProjector | None = None):
        self.embed_text = embed_text
        self.make_projector = make_projector
        self.templates = templates
        self.words = words
        self.n_components = n_components
        self.seed = seed
        self._fitted: dict[str, InDiReCT] = {}

    def prompts(self, name: str) -> list[str]:
        return build_prompts(self.templates[name], self.words[name])

    def projector(self, name: str) -> InDiReCT:
        if name not in self._fitted:
            text = np.asarray(self.embed_text(self.prompts(name)), dtype=np.float32)
            k = min(int(self.n_components), text.shape[1])
            projector = (self.make_projector(self.seed) if self.make_projector is not None
                         else InDiReCT(n_components=k, random_state=self.seed))
            self._fitted[name] = projector.fit(text)
        return self._fitted[name]

    def fitted_names(self) -> list[str]:
        """The spaces fitted so far (the ones some query needed)."""
        return list(self._fitted)

    def value_text(self, name: str, value: str) -> np.ndarray:
        """The mean unit embedding of ``value`` in every template of space ``name``."""
        return unit_rows(self.embed_text([t.format(value) for t in self.templates[name]])).mean(axis=0)

    @abc.abstractmethod
    def focus_space(self, query: Query) -> str | None:
        """See the module docstring."""

    @abc.abstractmethod
    def identity_space(self, query: Query) -> str | None:
        """See the module docstring."""

    @abc.abstractmethod
    def condition_space(self, query: Query) -> str | None:
        """See the module docstring."""

    @abc.abstractmethod
    def condition_text(self, query: Query) -> np.ndarray:
        """See the module docstring."""


class DemoSpaces(ConditionSpaces):
    """The demo world: one space per notion, the prompt set of ``dataset.notions.<notion>`` in
    the composed config (conf/dataset/shapes.yaml), read through :func:`indirect.notions.lookup_notion`.

    Focus "color" uses the colour space; change to "red" under the colour notion keeps the
    reference's shape (the shape space, :data:`OTHER_FACTOR`) and asks for "red" in the colour
    space, the value written into the colour prompts' templates ("a red shape", "a red object").
    """

    def __init__(self, embed_text: EmbedText, dataset_cfg, n_components: int = 128, seed: int = 0,
                 make_projector: MakeProjector | None = None):
        from indirect.notions import lookup_notion

        templates, words = {}, {}
        for notion in OTHER_FACTOR:
            spec = lookup_notion(dataset_cfg, notion)
            templates[notion] = list(spec.templates)
            words[notion] = load_vocabulary(spec.vocabulary)
        super().__init__(embed_text, templates, words, n_components, seed, make_projector)

    def focus_space(self, query):
        return query.condition if query.condition in self.words else None

    def identity_space(self, query):
        return OTHER_FACTOR[query.notion]

    def condition_space(self, query):
        return query.notion

    def condition_text(self, query):
        return self.value_text(query.notion, query.condition)


ATTRIBUTE_TYPES = {"color": "color", "colour": "color", "material": "material", "pattern": "pattern",
                   "texture": "pattern", "shape": "shape", "size": "size"}
"""GeneCIS focus-attribute condition -> our vocabulary file (``vocab/<file>.txt``)."""
ATTRIBUTE_TEMPLATES = ["a photo of a {} object", "a {} thing"]
OBJECT_TEMPLATES = ["a photo of a {}"]
"""One template: 81 object prompts stay below k = 128, where the fit is exact and immediate (two
templates give more prompts than k and an iterative fit per condition, ~100 conditions a task)."""


class GenecisSpaces(ConditionSpaces):
    """The real benchmark, with the vocabularies of ``indirect/conditional/vocab`` (see its README).

    * focus_attribute ("color"): the space of that attribute type's words;
    * focus_object ("cardboard"): the object space (COCO categories plus the condition itself);
    * change_attribute ("white"): keeps the object (object space) and asks for the value in the
      space of the first attribute type listing it (raw text similarity when none does);
    * change_object ("wall"): keeps the scene (raw image similarity: the object tasks compare whole
      photos) and asks for the object in the object space.
    """

    def __init__(self, embed_text: EmbedText, n_components: int = 128, seed: int = 0, vocab_dir=VOCAB_DIR,
                 make_projector: MakeProjector | None = None):
        vocab_dir = Path(vocab_dir)
        templates, words = {}, {}
        for name in sorted(set(ATTRIBUTE_TYPES.values())):
            templates[name], words[name] = ATTRIBUTE_TEMPLATES, _read_words(vocab_dir / f"{name}.txt")
        self.objects = _read_words(vocab_dir / "objects.txt")
        templates["objects"], words["objects"] = OBJECT_TEMPLATES, self.objects
        super().__init__(embed_text, templates, words, n_components, seed, make_projector)

    def _object_space(self, condition: str) -> str:
        name = f"objects+{condition}"
        if name not in self.words:
            self.templates[name] = OBJECT_TEMPLATES
            self.words[name] = list(dict.fromkeys([*self.objects, condition]))
        return name

    def _attribute_type_of(self, value: str) -> str | None:
        value = value.strip().lower()
        return next((name for name in ("color", "material", "pattern", "shape", "size") if value in self.words[name]), None)

    def focus_space(self, query):
        if query.notion == "object":
            return self._object_space(query.condition.strip().lower())
        return ATTRIBUTE_TYPES.get(query.condition.strip().lower())

    def identity_space(self, query):
        return "objects" if query.notion == "attribute" else None

    def condition_space(self, query):
        if query.notion == "object":
            return self._object_space(query.condition.strip().lower())
        return self._attribute_type_of(query.condition)

    def condition_text(self, query):
        name = self.condition_space(query)
        if name is None:
            return unit_rows(self.embed_text([query.condition]))[0]
        return self.value_text(name, query.condition.strip().lower())


def _read_words(path: Path) -> list[str]:
    if not path.is_file():
        raise PromptError(f"vocabulary file {path} not found; it ships with indirect/conditional/vocab")
    return load_vocabulary(str(path))
