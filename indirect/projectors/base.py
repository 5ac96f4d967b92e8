"""The estimator contract every projector follows, and the plumbing they share.

A projector maps (n, D) image embeddings to (n, k) vectors, unit length unless it was built with
``normalize_output=False`` (the paper's numerics for the CLIP, PCA and autoencoder baselines, whose
original outputs are not normalised). It follows scikit-learn's
contract (constructor arguments stored as given, ``fit -> self``, learned state in trailing
underscore attributes) so the pipeline can treat InDiReCT and every baseline alike, and it
saves its fitted state as a dict of tensors and plain values so that ``torch.load`` can read it
back with ``weights_only=True`` (no pickled code).
"""
from __future__ import annotations

import importlib
import inspect
import platform
from pathlib import Path

import numpy as np
import torch
from indirect.backbones.base import auto_device
from indirect.errors import ProjectorError

FORMAT_VERSION = 1


class NotApplicable(ProjectorError):
    """The method cannot produce this figure at all (the paper's "-"), e.g. PCA asked for more
    components than there are prompts; the message is the reason, to be reported, not a number."""


class NotFittedError(ProjectorError, AttributeError):
    """transform, loss or save was called before fit."""


def seed_from(random_state) -> int:
    """An int seed from ``random_state`` (int, None or a numpy Generator/RandomState)."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    raise ProjectorError(f"random_state={random_state!r} is not an int, None or a numpy generator; pass an int seed")


def as_tensor(X, name: str = "X", keep_grad: bool = False) -> torch.Tensor:
    """A (n, D) float32 tensor view of a numpy array, a list or a tensor (device kept; the autograd
    graph kept only with ``keep_grad``, which ``transform`` uses so saliency can differentiate it)."""
    if isinstance(X, torch.Tensor):
        tensor = X.to(torch.float32) if keep_grad else X.detach().to(torch.float32)
    else:
        tensor = torch.as_tensor(np.asarray(X, dtype=np.float32))
    if tensor.ndim != 2:
        raise ProjectorError(f"{name} must be a 2-D (n_samples, n_features) array, got shape {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ProjectorError(f"{name} contains NaN or inf values; check the embeddings it came from")
    return tensor


def like_input(result: torch.Tensor, X):
    """Return ``result`` in the kind of container ``X`` was: tensor (on X's device) or float32 numpy."""
    if isinstance(X, torch.Tensor):
        return result.to(device=X.device, dtype=torch.float32)
    return result.detach().cpu().numpy().astype(np.float32, copy=False)


def l2_normalize(X: torch.Tensor) -> torch.Tensor:
    """Unit-length rows; an all-zero row stays zero instead of becoming NaN."""
    return torch.nn.functional.normalize(X, dim=-1, eps=1e-12)


def package_versions() -> dict:
    """Versions recorded with a saved projector, so a result can be traced to its software."""
    import sklearn

    import indirect

    return {"indirect": indirect.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "sklearn": sklearn.__version__, "python": platform.python_version()}


def _plain(value):
    """Numpy values -> tensors / Python scalars, so the saved dict loads with weights_only=True."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, str):
        return str(value)                      # drops str subclasses such as TorchVersion
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Projector:
    """Base class: scikit-learn style estimator from (n, D) embeddings to (n, k) vectors.

    ``transform`` L2-normalises the rows ``_transform`` returns unless the projector has a
    ``normalize_output`` parameter set to False. Subclasses set the class attributes below, implement ``_fit`` and ``_transform`` on float32
    tensors, and list their learned attributes in ``_state_attrs`` (saved and restored by
    :meth:`save` / :meth:`load`). Inputs may be numpy arrays or tensors; outputs come back in the
    same kind (numpy float32 in -> numpy float32 out).
    """

    method_name: str = ""
    fit_on: str = "text"          # 'text' (prompt embeddings), 'images' (oracle, with labels) or 'none'
    depends_on_seed: bool = True
    upper_bound: bool = False
    _state_attrs: tuple[str, ...] = ()

    # -- scikit-learn contract ---------------------------------------------------------------
    def get_params(self, deep: bool = False) -> dict:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params) -> "Projector":
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise ProjectorError(f"{type(self).__name__} has no parameter '{key}'; valid: {', '.join(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def fit(self, X, y=None) -> "Projector":
        X_t = as_tensor(X)
        self._check_n_components(X_t.shape[1])
        self._fit(X_t, y)
        self.n_features_in_ = int(X_t.shape[1])
        return self

    def transform(self, X):
        self._check_fitted()
        X_t = as_tensor(X, keep_grad=True)  # a tensor that requires grad gets a differentiable result
        if X_t.shape[1] != self.n_features_in_:
            raise ProjectorError(
                f"{type(self).__name__} was fitted on {self.n_features_in_}-dim embeddings but got "
                f"{X_t.shape[1]}-dim ones; use embeddings from the same backbone")
        projected = self._transform(X_t)
        if getattr(self, "normalize_output", True):
            projected = l2_normalize(projected)
        return like_input(projected, X)

    def fit_transform(self, X, y=None):
        return self.fit(X, y).transform(X)

    # -- what subclasses implement -----------------------------------------------------------
    def _fit(self, X: torch.Tensor, y) -> None:
        raise NotImplementedError

    def _transform(self, X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    # -- shared checks -----------------------------------------------------------------------
    def _check_n_components(self, n_features: int) -> None:
        k = getattr(self, "n_components", None)
        if k is None:
            return
        if int(k) < 1:
            raise ProjectorError(f"n_components={k} must be a positive integer")
        if int(k) > n_features:
            raise ProjectorError(
                f"n_components={k} exceeds the embedding size D={n_features}; choose n_components <= {n_features}")

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(...) first")

    def _device(self) -> torch.device:
        return auto_device(getattr(self, "device", "auto"))

    # -- persistence -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to rebuild this fitted projector, as tensors and plain values."""
        self._check_fitted()
        state = {name: getattr(self, name) for name in ("n_features_in_",) + tuple(self._state_attrs)}
        return {"format_version": FORMAT_VERSION,
                "class": f"{type(self).__module__}.{type(self).__qualname__}",
                "method_name": self.method_name,
                "params": _plain(self.get_params()),
                "state": _plain(state)}

    @classmethod
    def from_state_dict(cls, payload: dict) -> "Projector":
        projector = cls(**payload["params"])
        for name, value in payload["state"].items():
            setattr(projector, name, value)
        projector._restore()
        return projector

    def _restore(self) -> None:
        """Hook for subclasses that rebuild modules from their restored tensors."""

    def save(self, path, metadata: dict | None = None) -> Path:
        """Write the fitted state plus ``metadata`` (prompts, backbone, k, ...) to ``path``."""
        payload = self.state_dict()
        payload["metadata"] = _plain({"method": self.method_name,
                                      "n_components": getattr(self, "n_components", None),
                                      "versions": package_versions(), **(metadata or {})})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, path)
        return path

    @classmethod
    def load(cls, path) -> "Projector":
        """Read a projector written by :meth:`save`; the class stored in the file is rebuilt."""
        payload = read_payload(path)
        projector_cls = class_from_name(payload["class"], path)
        if not issubclass(projector_cls, cls):
            raise ProjectorError(f"{path} holds a {projector_cls.__name__}, not a {cls.__name__}; use load_projector(path)")
        projector = projector_cls.from_state_dict(payload)
        projector.metadata_ = payload.get("metadata", {})
        return projector


def read_payload(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ProjectorError(f"no saved projector at {path}; check the path or fit and save one first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise ProjectorError(f"{path} is not a projector file written by Projector.save (format {FORMAT_VERSION})")
    return payload


def class_from_name(qualified: str, path=None) -> type:
    module_name, _, class_name = qualified.rpartition(".")
    if not module_name.startswith("indirect."):
        raise ProjectorError(f"{path}: refusing to load class {qualified} from outside the indirect package")
    return getattr(importlib.import_module(module_name), class_name)


def load_projector(path) -> Projector:
    """Load any saved projector (the class is read from the file)."""
    return Projector.load(path)
