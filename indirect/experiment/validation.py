"""The first stage of a run: every value a user can mistype is checked before anything is loaded.

Each refusal is one line naming the key, the value and the accepted range (a ``ConfigError``),
so a malformed override costs no dataset scan, no model load and no traceback.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from indirect.embedding.options import DEFAULTS as EMBED_DEFAULTS, check_options
from indirect.errors import ConfigError
from indirect.experiment.overrides import unknown_key

EVALUATION_BACKENDS = ("exact", "pml")
K_WORDS = ("max_bin_count",)
PROMPT_KEYS = ("templates", "vocabulary")


def integer(cfg: DictConfig, key: str, minimum: int | None = None, allow_none: bool = False) -> int | None:
    """``cfg.<key>`` as an int of at least ``minimum``, or a one-line error naming it."""
    value = OmegaConf.select(cfg, key, throw_on_missing=True)
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}={value!r} is not an integer; set {key}=<integer"
                          f"{f' >= {minimum}' if minimum is not None else ''}>")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{key}={value} must be >= {minimum}")
    return value


def validate(cfg: DictConfig) -> None:
    """Refuse malformed top-level, method, evaluation and sharding values with one line each."""
    try:
        _validate(cfg)
        missing = sorted(OmegaConf.missing_keys(cfg))
    except MissingMandatoryValue as error:
        raise ConfigError(missing_message(error)) from None
    missing = [key for key in missing if not key.startswith(("prompts.", "ignore_prompts.", "dataset.notions."))]
    if missing:  # prompt vocabularies are refused by the prompt stage, with its own hint
        raise ConfigError(f"{missing[0]} has no value (???); set {missing[0]}=<value> on the command line")


def _validate(cfg: DictConfig) -> None:
    integer(cfg, "seed")
    if integer(cfg, "n_components", 1) == 1:
        raise ConfigError("n_components=1: unit-normalised outputs of one dimension are +1 or -1, every distance is "
                          "0 or 2 and a ranking is tie order; set n_components=<integer >= 2>")
    integer(cfg, "repetitions", 1)
    integer(cfg, "max_prompts", 1, allow_none=True)
    from indirect.experiment.conditional import is_conditional, require_conditional, validate_conditional

    require_conditional(cfg)
    if is_conditional(cfg):
        validate_conditional(cfg)
    else:
        validate_retrieval(cfg)
    check_options(**{key: OmegaConf.select(cfg, f"embed.{key}", default=default, throw_on_missing=True)
                     for key, default in EMBED_DEFAULTS.items()})
    prompt_keys(cfg)
    for key in ("paths.cache_dir", "paths.data_dir"):
        folder(cfg, key)
    known = list(cfg.get("methods") or {})
    for name in compared(cfg):
        if str(name) not in known:
            raise ConfigError(f"compare_with: unknown method '{name}'; known: {', '.join(known)}")
    ignore = cfg.get("ignore")
    if ignore is not None and str(ignore) == str(cfg.notion.name):
        raise ConfigError(f"ignore={ignore} is the run's own notion; ignore another notion of the dataset")
    analysis_options(cfg)


def analysis_options(cfg: DictConfig) -> None:
    """Each analysis node's options by its class's ``RULES`` (the rules its constructor applies), so a bad
    ``analysis.saliency.n_images`` is refused now, not after the embedding and the evaluation."""
    from hydra.utils import get_class

    from indirect.analysis import check_options

    for name, node in (cfg.get("analysis") or {}).items():
        if isinstance(node, DictConfig) and node.get("_target_"):
            options = {key: value for key, value in node.items() if key != "_target_"}
            check_options(str(name), getattr(get_class(node._target_), "RULES", {}), **options)


def folder(cfg: DictConfig, key: str) -> None:
    """``cfg.<key>`` is a folder, or one that can be made: no file where it or a parent would be."""
    value = OmegaConf.select(cfg, key, default=None)
    path = Path(str(value)) if value is not None else None
    file = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None) if path else None
    if file is not None:
        where = "" if file == path else f": {file} is a file"
        raise ConfigError(f"{key}={value} {'is a file, not a folder' if file == path else 'is not a folder'}{where}; "
                          f"set {key}=<a folder>")


def prompt_keys(cfg: DictConfig) -> None:
    """``prompts`` and ``ignore_prompts`` hold templates and vocabulary only: another key (an added
    ``+ignore_prompts.vocab``) would be dropped without a word."""
    for node in ("prompts", "ignore_prompts"):
        value = cfg.get(node)
        extra = [str(key) for key in (value.keys() if isinstance(value, DictConfig) else []) if key not in PROMPT_KEYS]
        if extra:
            raise unknown_key(f"{node}.{extra[0]}", node, list(PROMPT_KEYS))


def compared(cfg: DictConfig) -> list[str]:
    """``compare_with``'s method names; a bare name (``compare_with=clip``) is a list of one."""
    names = cfg.get("compare_with") or []
    return [str(names)] if isinstance(names, str) else [str(name) for name in names]


def validate_retrieval(cfg: DictConfig) -> None:
    """The retrieval metrics' backend and k."""
    backend = OmegaConf.select(cfg, "evaluation.backend")
    if backend not in EVALUATION_BACKENDS:
        raise ConfigError(f"evaluation.backend={backend} is unknown; choose one of: {', '.join(EVALUATION_BACKENDS)}")
    k = OmegaConf.select(cfg, "evaluation.k")
    if k is not None and k not in K_WORDS:
        integer(cfg, "evaluation.k", 1)


def missing_message(error: MissingMandatoryValue) -> str:
    """OmegaConf's 'Missing mandatory value: notion.name' as one line with the fix."""
    key = getattr(error, "full_key", None) or str(error).splitlines()[0].split(":")[-1].strip()
    return f"{key} has no value (???); set {key}=<value> on the command line"

