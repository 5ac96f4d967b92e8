"""Search your own images in a notion space, by image or by text, next to the raw backbone space:

    python scripts/search.py dataset=folder dataset.root=/my/photos backbone=demo notion=custom \\
        prompts=custom 'prompts.vocabulary=[red,green,blue,yellow,orange,purple,pink,cyan]' \\
        'prompts.templates=["a {} shape"]' 'queries=[holiday/img_001.jpg,"a red shape"]' top_k=5

Config: conf/search.yaml (train_eval.yaml's groups plus ``queries``, ``top_k``). The run directory
gets neighbours.json, gallery.html, neighbours.png and space/ (reload with NotionSpace.load).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
logging.getLogger("faiss.loader").setLevel(logging.WARNING)


@hydra.main(version_base="1.3", config_path="../conf", config_name="search")
def main(cfg: DictConfig) -> None:
    from indirect.search.run import search
    from train_eval import user_error_in

    output_dir = Path(HydraConfig.get().runtime.output_dir)
    tracker, succeeded = None, False
    try:
        tracker = hydra.utils.instantiate(cfg.logger)
        tracker.start(OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False), output_dir,
                      tags=["search", str(cfg.dataset.name), str(cfg.backbone._target_).rsplit(".", 1)[-1]],
                      name=output_dir.name)
        search(cfg, output_dir, tracker)
        succeeded = True
    except Exception as error:
        cause = user_error_in(error)
        if cause is None:
            raise  # a bug: keep the traceback
        print(f"error: {cause}".splitlines()[0], file=sys.stderr)
        sys.exit(2)
    finally:
        if tracker is not None:
            tracker.finish(exit_code=0 if succeeded else 1)


if __name__ == "__main__":
    from indirect.errors import quiet_interrupt
    from indirect.experiment.overrides import refuse_unknown

    refuse_unknown(sys.argv[1:], ROOT / "conf", "search")
    quiet_interrupt(main)
