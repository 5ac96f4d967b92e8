"""Language-guided zero-shot DML, one experiment per call:

    python train_eval.py dataset=cars196 notion=color backbone=vit_b32_openai projector=indirect
    python train_eval.py --multirun notion=shape,color,background,size
    python train_eval.py --cfg job          # print the composed config
"""
from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

log = logging.getLogger("train_eval")
# faiss tries its AVX-512/AVX2 builds first and logs each miss at INFO: noise, not news.
logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def user_error_in(error: BaseException | None):
    """The user error behind ``error``, looking through wrappers such as Hydra's
    InstantiationException; OmegaConf's missing value (``???``) becomes a ConfigError."""
    from indirect.errors import ConfigError, UserError
    from indirect.experiment.validation import missing_message

    while error is not None and not isinstance(error, (UserError, MissingMandatoryValue)):
        error = error.__cause__ or error.__context__
    return ConfigError(missing_message(error)) if isinstance(error, MissingMandatoryValue) else error


def config_choices(groups) -> list[str]:
    """The config group options this run composed (``vit_b32_openai``, ``indirect_faithful``): what
    tells runs apart, where class names (OpenClipBackbone for every CLIP size) do not."""
    choices = HydraConfig.get().runtime.choices
    return [str(choices.get(group)) for group in groups if choices.get(group)]


def start_tracker(cfg: DictConfig, output_dir: Path, multirun: bool):
    """The configured tracker, started with the resolved config, the run's tags and the sweep as its group."""
    tracker = hydra.utils.instantiate(cfg.logger)
    tracker.start(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False), output_dir,
                  tags=[str(cfg.dataset.name), str(cfg.notion.name), *config_choices(("backbone", "projector"))],
                  name=output_dir.name, group=Path(HydraConfig.get().sweep.dir).name if multirun else None)
    return tracker


@hydra.main(version_base="1.3", config_path="conf", config_name="train_eval")
def main(cfg: DictConfig) -> None:
    from indirect.experiment import run
    from indirect.experiment.validation import validate

    output_dir = Path(cfg.paths.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    tracker, succeeded = None, False
    try:
        unswept = OmegaConf.select(HydraConfig.get(), "sweeper.params") if not multirun else None
        if unswept:   # experiment=sweep_* without -m: say that its sweep did not run
            log.warning("this config sweeps %s only with --multirun (-m); running one job with %s",
                        ", ".join(f"{k}={v}" for k, v in unswept.items()),
                        ", ".join(f"{k}={HydraConfig.get().runtime.choices.get(k) or OmegaConf.select(cfg, k)}"
                                  for k in unswept))
        validate(cfg)
        tracker = start_tracker(cfg, output_dir, multirun)
        run(cfg, tracker)
        succeeded = True
    except Exception as error:
        cause = user_error_in(error)
        if not (multirun or cause):
            raise  # a bug: keep the traceback
        message = f"error: {cause or error}".splitlines()[0]
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "error.txt").write_text(traceback.format_exc() + "\n" + message + "\n")  # last line: the message
        print(message, file=sys.stderr)
        if not multirun:  # in a sweep the other jobs go on; the sweep report lists this one as failed
            sys.exit(2)
    finally:
        if tracker is not None:
            tracker.finish(exit_code=0 if succeeded else 1)    # a failed run shows as failed in W&B


def refuse_unknown_choices(arguments: list[str]) -> None:
    """An unknown config group option (``notion=nope``) or key (``projector.foo=1``) as one line and exit status 2."""
    from indirect.experiment.overrides import refuse_unknown

    refuse_unknown(arguments, Path(__file__).resolve().parent / "conf")


if __name__ == "__main__":
    from indirect.errors import quiet_interrupt

    refuse_unknown_choices(sys.argv[1:])
    quiet_interrupt(main)
