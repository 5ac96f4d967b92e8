"""A fitted notion space over one image collection: the projector, both sets of embeddings, their
indexes, and what built them; searchable by image, text or vector, and saved as one folder.

The raw backbone space is kept next to the projected one because what the language guidance
changed is only visible side by side. Queries given as an id (or the path of an image of the
collection, however spelled) reuse the stored embedding and leave the image itself out of its
neighbours. A space is a snapshot of the collection: each image's (size, mtime_ns) is kept, and a
query naming a file changed since is embedded afresh from the file (its neighbours stay the
snapshot's).
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch
from PIL import Image

from indirect.datasets.base import LabelledImages
from indirect.datasets.folder import IMAGE_SUFFIXES, load_folder
from indirect.errors import BackboneError, ProjectorError, PromptError, SearchError
from indirect.embedding.images import stat_stamp, to_rgb
from indirect.prompts.builder import require_two_prompts
from indirect.search.index import EXACT_LIMIT, IndexInfo, build_index, load_index, save_index, search_index

log = logging.getLogger(__name__)
FORMAT_VERSION = 1
SPACES = ("projected", "raw")
PROTOCOL = ("zero-shot: the projector is fitted on the prompts' text embeddings only (no image, no label); "
            "images are embedded by the frozen backbone and projected; distances are cosine distances 1 - cos")
FILES = {"info": "space.json", "projector": "projector.pt", "projected": "projected.h5", "raw": "raw.h5",
         "labels": "labels.csv"}


class NotionSpace:
    """Build with :meth:`fit` (a backbone, prompts, images) or :meth:`from_embeddings`; reload a
    saved one with :meth:`load`. ``search(query, k, space="projected" | "raw")`` returns
    ``(ids, cosine distances)``."""

    def __init__(self, projector, ids: list[str], raw: np.ndarray, *, prompts: list[str], root=None,
                 labels: pd.DataFrame | None = None, backbone=None, backbone_info: dict | None = None,
                 projected: np.ndarray | None = None, indexes: dict | None = None, exact_limit: int = EXACT_LIMIT,
                 prompt_embeddings=None, stamps: np.ndarray | None = None):
        self.projector = projector
        self.ids = list(ids)
        self.raw = np.ascontiguousarray(raw, dtype=np.float32)
        self.projected = np.ascontiguousarray(projector.transform(self.raw) if projected is None else projected,
                                              dtype=np.float32)
        self.prompts = list(prompts)
        self.root = Path(root).expanduser().resolve() if root is not None else None
        self.labels = labels if labels is not None and len(labels.columns) else None
        self._backbone = backbone
        self.backbone_info = backbone_info or _backbone_info(backbone, None)
        self._row = {image_id: row for row, image_id in enumerate(self.ids)}
        self._by_real_path = None  # {real path: id}, built on the first path query spelled otherwise
        # (size, mtime_ns) of each image's file as embedded (stat'ed now unless given); (-1, -1): no file, or unknown
        self.stamps = file_stamps([self.path_of(i) for i in self.ids]) if stamps is None else np.asarray(stamps, np.int64)
        if indexes is None:
            texts = {"raw": prompt_embeddings, "projected": None if prompt_embeddings is None
                     else projector.transform(np.asarray(prompt_embeddings, np.float32))}
            indexes = {name: build_index(vectors, exact_limit, prompts=texts[name]) for name, vectors in
                       (("projected", self.projected), ("raw", self.raw))}
        self.indexes = indexes

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def fit(cls, backbone, prompts, images, n_components: int = 128, projector="indirect", *, seed: int = 0,
            backbone_config: dict | None = None, cache_dir=None, embed_options: dict | None = None,
            exact_limit: int = EXACT_LIMIT) -> "NotionSpace":
        """Embed ``images`` (a folder, a list of image paths or a LabelledImages) and the ``prompts``
        with ``backbone`` (a Backbone, or a Hydra config with ``_target_``), fit ``projector`` (a
        method name such as ``indirect``, a Projector, or a config) on the prompts, project.

        ``cache_dir`` keeps the HDF5 embedding caches (the pipeline's); None uses a temporary one.
        ``backbone_config`` records how to rebuild a Backbone given as an object, so that a
        loaded space can answer image and text queries without being handed the backbone."""
        from indirect.embedding import embed_images, embed_texts

        backbone, backbone_config = _backbone_and_config(backbone, backbone_config)
        prompts = _prompt_list(prompts)
        labelled = collection(images)
        with tempfile.TemporaryDirectory(prefix="indirect-space-") as scratch:
            cache = cache_dir if cache_dir is not None else scratch
            embedded = embed_images(backbone, labelled, cache, **(embed_options or {}))
            text = embed_texts(backbone, prompts, cache)
        if not embedded.ids:
            raise SearchError(f"no readable image among the {len(labelled)} of {labelled.root}; nothing to search")
        return cls.from_embeddings(text, embedded.ids, embedded.embeddings, prompts, projector, n_components,
                                   seed=seed, backbone=backbone, backbone_config=backbone_config, root=labelled.root,
                                   labels=labelled.labels.loc[embedded.ids], exact_limit=exact_limit)

    @classmethod
    def from_embeddings(cls, prompt_embeddings, ids, image_embeddings, prompts, projector="indirect",
                        n_components: int = 128, *, seed: int = 0, backbone=None, backbone_config: dict | None = None,
                        root=None, labels: pd.DataFrame | None = None, exact_limit: int = EXACT_LIMIT) -> "NotionSpace":
        """A space from embeddings already computed (the pipeline's cached ones)."""
        projector = make_projector(projector, n_components, seed)
        if not hasattr(projector, "n_features_in_"):
            if getattr(projector, "fit_on", "text") == "images":
                raise ProjectorError(f"projector '{projector.method_name}' is fitted on labelled images; a notion "
                                     "space is fitted on prompts alone: use projector=indirect (or pca, clip, random)")
            projector.fit(np.asarray(prompt_embeddings, np.float32))
        return cls(projector, ids, image_embeddings, prompts=list(prompts), root=root, labels=labels,
                   backbone=backbone, backbone_info=_backbone_info(backbone, backbone_config), exact_limit=exact_limit,
                   prompt_embeddings=prompt_embeddings)

    # -- searching ---------------------------------------------------------------------------
    def search(self, query, k: int = 5, space: str = "projected", exclude_self: bool = True) -> tuple[list[str], np.ndarray]:
        """The ``k`` nearest images to ``query`` and their cosine distances, nearest first.

        ``query``: an id of the collection, an image path (absolute, relative to the collection's
        root or to the working directory), a PIL image, a vector (D-dim raw embedding, or k-dim
        projected one), or a text (any other string; it goes through the backbone's text tower).
        A query that is an image of the collection is left out of its own neighbours unless
        ``exclude_self`` is False."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise SearchError(f"k={k!r}: the number of neighbours must be an integer >= 1 (top_k)")
        if space not in SPACES:
            raise SearchError(f"space={space!r}: use one of {', '.join(SPACES)}")
        vector, own = self.query_vector(query, space)
        index, _ = self.indexes[space]
        extra = 1 if (own is not None and exclude_self) else 0
        rows, distances = search_index(index, vector, min(int(k) + extra, len(self.ids)))
        keep = [i for i, row in enumerate(rows) if not (extra and row == own)][:int(k)]
        return [self.ids[rows[i]] for i in keep], distances[keep]

    def query_vector(self, query, space: str = "projected") -> tuple[np.ndarray, int | None]:
        """The query as a vector of ``space`` and, when it is an image of the collection, its row."""
        kind, value = self._resolve(query)
        if kind == "row":
            changed = self.changed_file(value)
            if changed is not None and self._backbone is None and not self.backbone_info.get("config"):
                log.warning("%s changed since the space was saved and the space has no backbone to embed it again: "
                            "the stored embedding is used (NotionSpace.load(dir, backbone=...) embeds the file)", changed)
                changed = None
            if changed is None:
                return (self.projected if space == "projected" else self.raw)[value], value
            raw = self.embed_file(changed)
            return (self.projector.transform(raw[None, :])[0] if space == "projected" else raw), value
        if kind == "projected":
            if space == "raw":
                raise SearchError(f"a {value.shape[0]}-dim vector is a projected embedding; the raw space needs a "
                                  f"{self.raw.shape[1]}-dim backbone embedding")
            return value, None
        return (self.projector.transform(value[None, :])[0] if space == "projected" else value), None

    def describe(self, query) -> dict:
        """How ``query`` was read: kind (id, image, text, vector), the id and path when it is an image."""
        kind, value = self._resolve(query, embed=False)
        if kind == "row":
            return {"kind": "id", "id": self.ids[value], "path": self.path_of(self.ids[value])}
        return {"kind": kind, "path": value if kind == "image" else None}

    def _resolve(self, query, embed: bool = True):
        if isinstance(query, Image.Image):
            return ("image", None) if not embed else ("raw", self.embed_pil(query))
        if isinstance(query, (np.ndarray, torch.Tensor, list, tuple)):
            return self._vector(query)
        if isinstance(query, Path) or (isinstance(query, str) and Path(query.strip()).suffix.lower() in IMAGE_SUFFIXES):
            path_or_row = self._image(Path(str(query).strip()))
            if isinstance(path_or_row, int):
                return "row", path_or_row
            return ("image", path_or_row) if not embed else ("raw", self.embed_file(path_or_row))
        if isinstance(query, str):
            if query in self._row:
                return "row", self._row[query]
            if not query.strip():
                raise SearchError("empty text query; give a description such as 'a red shape' or an image path")
            return ("text", None) if not embed else ("raw", self.embed_text(query.strip()))
        raise SearchError(f"query of type {type(query).__name__} not understood; give an image path, a PIL image, "
                          "an embedding vector or a text")

    def _vector(self, query):
        vector = np.asarray(query.detach().cpu() if isinstance(query, torch.Tensor) else query, dtype=np.float32)
        if vector.ndim == 2 and vector.shape[0] == 1:
            vector = vector[0]
        if vector.ndim != 1 or not np.isfinite(vector).all():
            raise SearchError(f"a query vector must be one finite 1-D embedding, got shape {vector.shape}")
        if vector.shape[0] == self.raw.shape[1]:
            return "raw", vector
        if vector.shape[0] == self.projected.shape[1]:
            return "projected", vector
        raise SearchError(f"a {vector.shape[0]}-dim query vector fits neither the raw space ({self.raw.shape[1]}-dim) "
                          f"nor the projected one ({self.projected.shape[1]}-dim)")

    def _image(self, path: Path):
        """The row of a collection image, else the path of an existing image file."""
        found = locate_image(path, self.root, self._row, self._real_paths)
        return self._row[found] if isinstance(found, str) else found

    def _real_paths(self) -> dict:
        """{real path: id} of every image, for paths that name one under another spelling."""
        if self._by_real_path is None:
            self._by_real_path = {os.path.realpath(self.path_of(i)): i for i in self.ids}
        return self._by_real_path

    def changed_file(self, row: int) -> Path | None:
        """The file of image ``row`` when its size or mtime differ from the space's (a missing file,
        or one the space has no stamp for, is not: the stored embedding is then all there is)."""
        if self.stamps[row, 0] < 0:
            return None
        path = self.path_of(self.ids[row])
        now = stat_stamp(path)[:2]
        return path if now[0] >= 0 and tuple(now) != tuple(self.stamps[row]) else None

    # -- embedding queries -------------------------------------------------------------------
    @property
    def backbone(self):
        """The backbone, rebuilt from its stored config on first use after :meth:`load`."""
        if self._backbone is None:
            config = self.backbone_info.get("config")
            if not config:
                raise BackboneError(f"this space was built with backbone '{self.backbone_info.get('name')}' given as an "
                                    "object; image and text queries need it: NotionSpace.load(dir, backbone=...)")
            from hydra.utils import instantiate

            self._backbone = instantiate(config)
            _check_same_backbone(self._backbone, self.backbone_info)
        return self._backbone

    def embed_text(self, text: str) -> np.ndarray:
        return self.backbone.text_features([text]).float().cpu().numpy()[0]

    def embed_file(self, path: Path) -> np.ndarray:
        try:
            with Image.open(path) as image:
                return self.embed_pil(image)
        except (OSError, ValueError) as error:
            raise SearchError(f"query image {path} cannot be read ({type(error).__name__}: {error})".splitlines()[0]) from error

    def embed_pil(self, image: Image.Image) -> np.ndarray:
        backbone = self.backbone
        batch = backbone.preprocess(to_rgb(image))[None]   # as the collection was decoded: EXIF turn, 16-bit scaling
        with torch.inference_mode():
            return backbone.image_features(batch).float().cpu().numpy()[0]

    # -- what the collection says about its images ---------------------------------------------
    def path_of(self, image_id: str) -> Path | None:
        path = Path(image_id)
        if path.is_absolute() or self.root is None:
            return path
        return self.root / path

    def label_of(self, image_id: str, column: str) -> str | None:
        if self.labels is None or column not in self.labels.columns or image_id not in self.labels.index:
            return None
        value = self.labels.at[image_id, column]
        return None if pd.isna(value) or str(value) == "" else str(value)

    # -- persistence -------------------------------------------------------------------------
    def info(self) -> dict:
        """What built this space, as saved in ``space.json``."""
        return {"format_version": FORMAT_VERSION, "protocol": PROTOCOL, "backbone": self.backbone_info,
                "prompts": self.prompts, "n_prompts": len(self.prompts),
                "n_components": int(self.projected.shape[1]), "raw_dim": int(self.raw.shape[1]),
                "projector": {"class": f"{type(self.projector).__module__}.{type(self.projector).__qualname__}",
                              "method": self.projector.method_name},
                "collection": {"root": str(self.root) if self.root else None, "n_images": len(self.ids),
                               "label_columns": list(self.labels.columns) if self.labels is not None else []},
                "indexes": {name: info.to_dict() for name, (_, info) in self.indexes.items()},
                "files": FILES}

    def save(self, directory) -> Path:
        """Write the space into ``directory``: space.json, projector.pt, projected.h5 and raw.h5
        (``/ids``, ``/vectors``; raw.h5 also ``/stamps``), projected.faiss and raw.faiss, labels.csv
        when labelled. space.json is removed first and written last, so a save cut short (into a
        folder that held another space too) leaves a folder :meth:`load` refuses."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / FILES["info"]).unlink(missing_ok=True)  # a re-save cut short must not look complete
        (directory / FILES["labels"]).unlink(missing_ok=True)  # nor keep the labels of the space saved before
        self.projector.save(directory / FILES["projector"], metadata={"prompts": self.prompts,
                                                                      "backbone": self.backbone_info.get("name")})
        for name, vectors in (("projected", self.projected), ("raw", self.raw)):
            _write_vectors(directory / FILES[name], self.ids, vectors, self.stamps if name == "raw" else None)
            save_index(self.indexes[name][0], directory / f"{name}.faiss")
        if self.labels is not None:
            self.labels.to_csv(directory / FILES["labels"], index_label="id")
        tmp = directory / f".{FILES['info']}.tmp"
        tmp.write_text(json.dumps(self.info(), indent=1))
        os.replace(tmp, directory / FILES["info"])  # written last: its presence means the folder is complete
        return directory

    @classmethod
    def load(cls, directory, backbone=None) -> "NotionSpace":
        """A space written by :meth:`save`. ``backbone`` (a Backbone) is used for image and text
        queries; without it the backbone is rebuilt from the stored config when first needed."""
        from indirect.projectors import load_projector

        directory = Path(directory)
        info_path = directory / FILES["info"]
        if not info_path.is_file():
            cut = "; the files beside it are not a complete space" if (directory / FILES["projector"]).is_file() else ""
            raise SearchError(f"{directory} holds no saved notion space ({FILES['info']} missing{cut}); "
                              "give the space/ folder of a search run or of NotionSpace.save")
        info = json.loads(info_path.read_text())
        if info.get("format_version") != FORMAT_VERSION:
            raise SearchError(f"{info_path} has format {info.get('format_version')}, not {FORMAT_VERSION}; rebuild the space")
        if backbone is not None:
            _check_same_backbone(backbone, info["backbone"])
        ids, projected, _ = _read_vectors(directory / FILES["projected"])
        raw_ids, raw, stamps = _read_vectors(directory / FILES["raw"])
        indexes = {name: (load_index(directory / f"{name}.faiss", info["indexes"][name]),
                          IndexInfo(**info["indexes"][name])) for name in SPACES}
        _check_consistent(directory, info, ids, raw_ids, {"projected": projected, "raw": raw}, indexes)
        labels = None
        if info["collection"]["label_columns"]:  # space.json says which; a labels.csv beside it may be stale
            labels = pd.read_csv(directory / FILES["labels"], dtype=str, keep_default_na=False, index_col="id")
            labels = labels.mask(labels == "")
        root = info["collection"]["root"]
        return cls(load_projector(directory / FILES["projector"]), ids, raw, prompts=info["prompts"], root=root,
                   labels=labels, backbone=backbone, backbone_info=info["backbone"], projected=projected, indexes=indexes,
                   stamps=stamps if stamps is not None else np.full((len(ids), 2), -1, np.int64))


def locate_image(path, root: Path | None, ids, real_paths=None) -> str | Path:
    """The id (in ``ids``) of the image ``path`` names, else the existing file it names; relative
    paths are read from ``root``, then from the working directory. ``real_paths`` (a callable
    giving {real path: id}) finds an id spelled otherwise (an absolute CSV path queried relative
    to the root, a symlink). A one-line error otherwise."""
    path = Path(str(path).strip())
    if path.as_posix() in ids:
        return path.as_posix()
    candidates = [path] if path.is_absolute() else ([Path(root) / path] if root else []) + [Path.cwd() / path]
    for candidate in candidates:
        if candidate.is_file():
            if root is not None:
                try:
                    relative = candidate.resolve().relative_to(Path(root).resolve()).as_posix()
                except ValueError:
                    relative = None
                if relative in ids:
                    return relative
            found = real_paths().get(os.path.realpath(candidate)) if real_paths is not None else None
            return found if found is not None else candidate
    where = f"{root} or the working directory" if root else "the working directory"
    raise SearchError(f"query image {path} not found (relative paths are read from {where}); check the path")


def file_stamps(paths) -> np.ndarray:
    """(size, mtime_ns) of each file, (-1, -1) where none: what :meth:`NotionSpace.changed_file` compares."""
    return np.array([stat_stamp(p)[:2] for p in paths], np.int64).reshape(-1, 2)


def collection(images) -> LabelledImages:
    """A folder (any tree), a list of image paths, or a LabelledImages as the images of a space."""
    if isinstance(images, LabelledImages):
        return images
    if isinstance(images, (str, Path)):
        return load_folder(images)
    paths = [Path(p).expanduser().resolve() for p in images]
    if not paths:
        raise SearchError("no images given; pass a folder or a non-empty list of image paths")
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise SearchError(f"{len(missing)} image path(s) do not exist, e.g. {missing[0]}; pass existing files or a folder")
    root = Path(os.path.commonpath([p.parent for p in paths]))
    ids = [p.relative_to(root).as_posix() for p in paths]
    return LabelledImages("images", root, ids, paths, pd.DataFrame(index=ids))


def make_projector(spec, n_components: int, seed: int):
    """A projector from a method name (``indirect``, ``pca``...), a Projector, or a Hydra config."""
    from indirect import projectors

    if isinstance(spec, projectors.Projector):
        return spec
    if isinstance(spec, str):
        classes = {c.method_name: c for c in vars(projectors).values()
                   if isinstance(c, type) and issubclass(c, projectors.Projector) and c.method_name}
        if spec not in classes:
            raise ProjectorError(f"projector '{spec}' unknown; known: {', '.join(sorted(classes))}")
        cls = classes[spec]
        accepted = inspect.signature(cls.__init__).parameters
        options = {"n_components": n_components, "random_state": seed}
        return cls(**{key: value for key, value in options.items() if key in accepted})
    from hydra.utils import instantiate

    return instantiate(spec, random_state=seed)


def _prompt_list(prompts) -> list[str]:
    prompts = [prompts] if isinstance(prompts, str) else [str(p) for p in prompts]
    if not prompts or not all(p.strip() for p in prompts):
        raise PromptError("a notion space needs non-empty prompts, e.g. ['a red shape', 'a blue shape']")
    require_two_prompts(prompts, "the notion space's prompt list", fix="['a red shape', 'a blue shape']")
    return prompts


def _backbone_and_config(backbone, config):
    if isinstance(backbone, dict) or hasattr(backbone, "_target_"):
        from hydra.utils import instantiate
        from omegaconf import OmegaConf

        config = OmegaConf.to_container(backbone, resolve=True) if not isinstance(backbone, dict) else dict(backbone)
        return instantiate(config), config
    return backbone, config


def _backbone_info(backbone, config) -> dict:
    if backbone is None:
        return {"name": None, "fingerprint": None, "config": config}
    fingerprint = backbone.fingerprint()
    return {"name": backbone.name, "fingerprint": {k: str(v) for k, v in fingerprint.items()}, "config": config}


def _check_same_backbone(backbone, info: dict) -> None:
    stored = info.get("fingerprint") or {}
    given = {k: str(v) for k, v in backbone.fingerprint().items()}
    differing = [key for key in ("backbone", "weights") if key in stored and stored[key] != given.get(key)]
    if differing:
        raise BackboneError(f"the backbone given ({backbone.name}) differs from the one that built this space "
                            f"({info.get('name')}) in {', '.join(differing)}; pass the same backbone")


def _check_consistent(directory: Path, info: dict, ids: list[str], raw_ids: list[str], vectors: dict,
                      indexes: dict) -> None:
    """One line when the files of a saved space do not describe one collection (a save cut short
    over another space, files copied in from elsewhere): searching it would name wrong images."""
    collection = info["collection"]
    if raw_ids != ids or collection["n_images"] != len(ids):
        raise SearchError(f"{directory}: projected.h5 ({len(ids)} ids), raw.h5 ({len(raw_ids)}) and space.json "
                          f"({collection['n_images']} images) describe different collections; rebuild the space")
    dims = {"projected": info["n_components"], "raw": info["raw_dim"]}
    for name in SPACES:
        index, rows = indexes[name][0], vectors[name]
        if rows.shape[1] != dims[name] or index.d != dims[name] or index.ntotal != len(ids):
            raise SearchError(f"{directory}: {name}.h5 ({rows.shape[1]}-dim), {name}.faiss ({index.ntotal} x "
                              f"{index.d}-dim) and space.json ({len(ids)} x {dims[name]}-dim) disagree; rebuild the space")
    if collection["label_columns"] and not (directory / FILES["labels"]).is_file():
        raise SearchError(f"{directory / FILES['labels']} missing from the saved space; rebuild it")


def _write_vectors(path: Path, ids: list[str], vectors: np.ndarray, stamps: np.ndarray | None = None) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as out:
        out.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        out.create_dataset("vectors", data=vectors.astype(np.float32))
        if stamps is not None:
            out.create_dataset("stamps", data=np.asarray(stamps, np.int64))
    os.replace(tmp, path)


def _read_vectors(path: Path) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """ids, vectors and, when saved, the (size, mtime_ns) stamps (spaces saved before had none)."""
    if not path.is_file():
        raise SearchError(f"{path} missing from the saved space; rebuild it")
    with h5py.File(path, "r") as handle:
        stamps = handle["stamps"][:] if "stamps" in handle else None
        return list(handle["ids"].asstr()[:]), handle["vectors"][:], stamps
