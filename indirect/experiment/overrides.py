"""The command line checked before Hydra composes it: an unknown group option (``notion=nope``)
or key (``projector.foo=1``) is one line naming it and the fix, exit status 2, where Hydra's own
message is several lines and exits 1. Anything these checks cannot judge is left to Hydra:
syntax errors, Hydra's own groups and keys, reruns from another config directory."""
from __future__ import annotations

import difflib
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from indirect.errors import ConfigError

CLOSED = ("prompts", "ignore_prompts")  # nodes whose keys are all there: an added one is refused later
RERUN_FLAGS = ("--config-path", "-cp", "--config-dir", "-cd", "--config-name", "-cn")


def check_overrides(arguments: list[str], conf_dir: Path, config_name: str = "train_eval") -> None:
    """Raise :class:`ConfigError` for the first unknown group option or key in ``arguments``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if any(argument.split("=")[0] in RERUN_FLAGS for argument in arguments):
        return
    try:
        overrides = OverridesParser.create().parse_overrides([a for a in arguments if "=" in a and not a.startswith("-")])
    except Exception:  # noqa: BLE001 - a syntax error: Hydra names it
        return
    overrides = [o for o in overrides if not o.is_delete() and not o.key_or_group.startswith("hydra")]
    groups = [o for o in overrides if _group_folder(o, conf_dir) is not None]
    for override in groups:
        _check_choices(override, _group_folder(override, conf_dir))
    keys = [o for o in overrides if o not in groups and not o.is_add()]
    if keys:
        config = _compose(conf_dir, config_name, [f"{o.key_or_group}={_choices(o)[0]}" for o in groups])
        for override in keys if config is not None else []:
            _check_key(override.key_or_group, config)
            value = None if override.is_sweep_override() else override.value()
            for leaf in value if isinstance(value, dict) else []:  # key={a: 1}: each of its keys
                _check_key(f"{override.key_or_group}.{leaf}", config)


def _group_folder(override, conf_dir: Path) -> Path | None:
    folder = Path(conf_dir) / override.key_or_group.split("@")[0]
    return folder if folder.is_dir() else None


def _choices(override) -> list[str]:
    if override.is_sweep_override():
        return list(override.sweep_string_iterator())
    value = override.value()
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _check_choices(override, folder: Path) -> None:
    group = override.key_or_group.split("@")[0]
    options = sorted(path.stem for path in folder.glob("*.yaml"))
    for name in _choices(override):
        if name not in options:
            raise ConfigError(f"{group}={name} is not an option of the {group} group; choose one of: {', '.join(options)}")


def _compose(conf_dir: Path, config_name: str, choices: list[str]) -> DictConfig | None:
    """The config with the command line's group choices (a sweep's first), or None if that fails."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    try:
        with initialize_config_dir(config_dir=str(Path(conf_dir).resolve()), version_base="1.3"):
            return compose(config_name, overrides=choices)
    except Exception:  # noqa: BLE001 - Hydra reports what it cannot compose
        return None
    finally:
        GlobalHydra.instance().clear()


def _check_key(key: str, config: DictConfig) -> None:
    """Refuse ``key`` only where Hydra would: its parent exists, is a struct node, and lacks it."""
    parent_key, _, leaf = key.rpartition(".")
    try:
        parent = OmegaConf.select(config, parent_key) if parent_key else config
    except Exception:  # noqa: BLE001 - an interpolation that cannot resolve here
        return
    if not isinstance(parent, DictConfig) or not OmegaConf.is_struct(parent) or leaf in parent.keys():
        return                                   # keys(), not ``in``: ``in`` is False for a ??? value
    raise unknown_key(key, parent_key, [str(k) for k in parent.keys()])


def unknown_key(key: str, parent_key: str, keys: list[str]) -> ConfigError:
    """``<key> is not a key of <parent>; did you mean ...? it has: ...`` (and how to add one, except in
    the nodes whose keys are all there)."""
    keys = sorted(keys)
    close = difflib.get_close_matches(key.rpartition(".")[2], keys, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    add = "" if parent_key in CLOSED else f"; to add one, write +{key}=<value>"
    return ConfigError(f"{key} is not a key of {parent_key or 'the config'}; {hint}it has: {', '.join(keys)}{add}")


def check_launcher(arguments: list[str]) -> None:
    """``hydra/launcher=slurm`` where SLURM is not installed: submitit's traceback ('Could not detect
    "srun"') becomes one line with the two launchers that work here."""
    import shutil

    launchers = [a.split("=", 1)[1] for a in arguments if a.split("=", 1)[0].lstrip("+~") == "hydra/launcher" and "=" in a]
    if "slurm" in launchers and not (shutil.which("srun") and shutil.which("sbatch")):
        raise ConfigError("hydra/launcher=slurm: this machine has no SLURM (srun/sbatch not found); run it on the "
                          "cluster's login node, or use hydra/launcher=slurm_local (the same jobs, here) or parallel")


def refuse_unknown(arguments: list[str], conf_dir: Path, config_name: str = "train_eval") -> None:
    """For a script's ``__main__``: an unknown group option (``notion=nope``) or key
    (``projector.foo=1``) as one ``error:`` line and exit status 2, before Hydra composes."""
    try:
        check_launcher(arguments)
        check_overrides(arguments, conf_dir, config_name)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
