"""Prompt sets: templates x vocabulary -> deduplicated prompt strings."""
from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Sequence
from indirect.errors import PromptError

VOCAB_DIR = Path(__file__).parent / "vocab"



def load_vocabulary(spec, vocabularies: dict | None = None) -> list[str]:
    """``spec`` is an inline list, ``dataset:<name>`` (a list the dataset loader provides, e.g.
    CUB's training species), a file name in ``indirect/prompts/vocab`` (without ``.txt``), or a
    path to a text file with one entry per line (``#`` starts a comment)."""
    if spec is None or str(spec) == "???":
        raise PromptError("no prompt vocabulary given; set prompts.vocabulary='[word1,word2]' or a vocabulary file name")
    if not isinstance(spec, str):
        return [str(v).strip() for v in spec if str(v).strip()]
    if spec.startswith("dataset:"):
        name = spec.split(":", 1)[1]
        if not vocabularies or name not in vocabularies:
            raise PromptError(f"vocabulary '{spec}': the dataset provides {sorted(vocabularies or {}) or 'no vocabularies'}")
        return list(vocabularies[name])
    path = Path(spec).expanduser()
    if not path.is_file():
        path = VOCAB_DIR / f"{spec}.txt"
    if not path.is_file():
        known = sorted(p.stem for p in VOCAB_DIR.glob("*.txt"))
        raise PromptError(f"vocabulary '{spec}' is neither a file nor one of {VOCAB_DIR}: {', '.join(known)}")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def _check_one_slot(template: str) -> None:
    """A template is filled by ``str.format(word)``: a second ``{}``, a named or numbered field or a
    lone brace would raise IndexError/KeyError/ValueError there (a traceback), so refuse it first."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError:
        fields = []
    if fields != [("", "", None)]:
        raise PromptError(f"prompt template {template!r} must hold exactly one '{{}}' (where the word goes) and no "
                          "other field: write a literal brace as '{{' or '}}'")


def build_prompts(templates: Sequence[str], vocabulary: Sequence[str], max_prompts: int | None = None,
                  seed: int = 0) -> list[str]:
    """Every template filled with every word, duplicates removed (order kept); with
    ``max_prompts``, a seeded random subset of that many of those prompts (order kept), so the
    run's ``n_prompts`` is the number asked for (or all of them, when there are fewer)."""
    if isinstance(templates, str):
        templates = [templates]
    bad = [t for t in templates if "{}" not in t]
    if bad:
        raise PromptError(f"prompt template {bad[0]!r} has no '{{}}' where the word goes")
    for template in templates:
        _check_one_slot(template)
    prompts = list(dict.fromkeys(t.format(w) for w in dict.fromkeys(vocabulary) for t in templates))
    if not prompts:
        raise PromptError("the prompt list is empty; give at least one template and one vocabulary entry")
    if max_prompts is not None and int(max_prompts) < len(prompts):
        keep = sorted(random.Random(seed).sample(range(len(prompts)), int(max_prompts)))
        prompts = [prompts[i] for i in keep]
    return prompts


def require_two_prompts(prompts: Sequence[str], what: str, fix: str = "prompts.vocabulary=[red,blue]") -> None:
    """Refuse a prompt set with fewer than two distinct prompts: fitted on one, a space has one
    direction, every image sits at +1 or -1 on it, every distance is 0 or 2, and a ranking or
    a retrieval figure would be the order of ties."""
    distinct = list(dict.fromkeys(str(p).strip() for p in prompts))
    if len(distinct) < 2:
        raise PromptError(f"{what} has {len(distinct)} distinct prompt(s) ({', '.join(map(repr, distinct)) or '-'}): a "
                          "space fitted on one prompt is one-dimensional (every distance 0 or 2, a ranking is tie "
                          f"order); give at least two, e.g. {fix}")
