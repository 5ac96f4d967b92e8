"""Figures of the analyses, drawn with matplotlib's object API (no global pyplot state, safe in sweeps)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure


def denormalise(image: torch.Tensor, preprocess) -> np.ndarray:
    """(C, H, W) preprocessed tensor -> (H, W, 3) floats in [0, 1] for display.

    Undoes the normalisation the preprocess names: ``split_preprocess`` gives the mean/std of
    both the demo's plain function ((x/255 - 0.5)/0.5) and CLIP's Compose, otherwise the
    ``Normalize`` step of a torchvision pipeline; so the input column shows the pixels the model
    saw. Only a preprocess naming neither is min-max rescaled (a per-image stretch: its colours
    are not the file's)."""
    from indirect.embedding.images import split_preprocess

    pixels = image.detach().float().cpu()
    split = split_preprocess(preprocess)
    steps = [split] if split is not None else getattr(preprocess, "transforms", [])
    for step in steps:
        if hasattr(step, "mean") and hasattr(step, "std"):
            mean = torch.as_tensor(step.mean, dtype=torch.float32).reshape(-1, 1, 1)
            std = torch.as_tensor(step.std, dtype=torch.float32).reshape(-1, 1, 1)
            return (pixels * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()
    low, high = float(pixels.min()), float(pixels.max())
    return ((pixels - low) / max(high - low, 1e-12)).permute(1, 2, 0).numpy()


def saliency_grid(inputs: list[np.ndarray], columns: dict[str, list[np.ndarray]], row_titles: list[str],
                  out_png: Path) -> Path:
    """Rows = images; first column the input, then one ``cividis`` saliency map per column title."""
    n_rows, n_cols = len(inputs), 1 + len(columns)
    fig = Figure(figsize=(2.0 * n_cols, 2.0 * n_rows + 0.4))
    for row, picture in enumerate(inputs):
        cells = [("input", picture, None)] + [(title, maps[row], "cividis") for title, maps in columns.items()]
        for col, (title, data, cmap) in enumerate(cells):
            ax = fig.add_subplot(n_rows, n_cols, row * n_cols + col + 1)
            ax.imshow(data, cmap=cmap, vmin=0.0 if cmap else None, vmax=1.0 if cmap else None)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
            if col == 0:
                ax.set_ylabel(row_titles[row], fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    return Path(out_png)


def embedding_maps(panels: dict[str, np.ndarray], labels: np.ndarray, title: str, out_png: Path) -> Path:
    """Side-by-side 2-D scatter plots (one per panel), points coloured by label; a legend when
    there are few enough labels to read one."""
    names, codes = np.unique(labels.astype(str), return_inverse=True)
    cmap = "tab10" if len(names) <= 10 else "tab20" if len(names) <= 20 else "turbo"
    fig = Figure(figsize=(5.0 * len(panels), 5.0))
    size = float(np.clip(3000 / max(len(labels), 1), 2, 30))
    for i, (panel, points) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), i + 1)
        scatter = ax.scatter(points[:, 0], points[:, 1], c=codes, cmap=cmap, s=size, linewidths=0,
                             vmin=0, vmax=max(len(names) - 1, 1))
        ax.set_title(panel, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    if len(names) <= 20:
        handles = scatter.legend_elements(num=list(range(len(names))))[0]
        fig.legend(handles, list(names), loc="lower center", ncols=min(len(names), 8), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.08 if len(names) <= 20 else 0, 1, 0.95))
    fig.savefig(out_png, dpi=100)
    return Path(out_png)
