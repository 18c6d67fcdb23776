"""Single-file artifacts of a fitted :class:`~recommender.engine.model.RecommenderModel`.

An artifact is one ``.npz`` (zip) file holding the learned numpy arrays, the
LightGBM text model (UTF-8 bytes as a ``uint8`` array) and a JSON metadata
document (also ``uint8``), so it loads with ``allow_pickle=False`` and fits a
Django ``FileField``.  The metadata carries :data:`FORMAT_VERSION` and a SHA-256
digest of every array; a truncated, corrupted or foreign-version file raises
:class:`ArtifactError` and nothing is returned half-loaded.

Writes go to a temporary file in the target directory which is then
``os.replace``-d over the target, so readers never see a partial file.

``np.savez`` stores every member uncompressed, so a large array of a local artifact
can be memory-mapped where it lies in the zip (:func:`load_model` with ``mmap=True``):
processes serving the same artifact then share one copy of it in the page cache
instead of holding one each. Artifacts written before this was used load the same way.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import struct
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from recommender.engine.config import PipelineConfig, build_source
from recommender.engine.data import IdIndex
from recommender.engine.features import FeatureBuilder
from recommender.engine.liking import LikeModel
from recommender.engine.model import RecommenderModel
from recommender.engine.ranking import LightGBMRanker

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FORMAT_NAME = "videorec-engine-pipeline"
_META_KEY = "__metadata__"
_MODEL_KEY = "__lightgbm_model__"
# The like classifier's LightGBM text; absent from artifacts of models without one.
_LIKE_KEY = "__like_model__"
#: Members smaller than this are read into memory even when mapping: a page-aligned map
#: per small array would cost more than the array.
MMAP_MIN_BYTES = 1 << 16
_ZIP_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, ..., name and extra lengths


class ArtifactError(Exception):
    """The artifact cannot be used (corrupt, truncated, foreign or wrong version)."""


def _digest(arrays: dict[str, np.ndarray]) -> str:
    hasher = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        hasher.update(key.encode())
        hasher.update(str(array.dtype).encode())
        hasher.update(str(array.shape).encode())
        hasher.update(array.data)  # no copy: a mapped array is hashed where it lies
    return hasher.hexdigest()


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def _model_state(model: RecommenderModel) -> tuple[dict[str, Any], dict[str, np.ndarray], str]:
    """Everything needed to rebuild ``model``.

    Returns
    -------
    metadata : dict
        JSON-serialisable configuration, vocabularies and fit report.
    arrays : dict of str to numpy.ndarray
        Learned arrays, keys ``item_ids``, ``source/<name>/<field>`` and
        ``features/<field>``.
    ranker : str
        LightGBM text model; empty for a model without a ranker.
    """
    arrays = {"item_ids": model.item_index.ids}
    for name, source in model.sources.items():
        arrays.update({f"source/{name}/{k}": v for k, v in source.get_state().items()})
    arrays.update({f"features/{k}": v for k, v in model.features.get_state().items()})
    if model.like is not None:
        arrays.update({f"like/{k}": v for k, v in model.like.get_state().items()})
        arrays[_LIKE_KEY] = _text_array(model.like.classifier.to_string())
    metadata = {
        "config": model.config.to_dict(),
        "vocabulary": model.vocabulary,
        "fit_report": model.fit_report,
    }
    return metadata, arrays, model.ranker.to_string() if model.ranker else ""


def _model_from_state(
    metadata: Mapping[str, Any], arrays: Mapping[str, np.ndarray], ranker: str
) -> RecommenderModel:
    """Inverse of :func:`_model_state`; raises ``KeyError``/``ValueError`` on bad input."""
    config = PipelineConfig.from_dict(metadata["config"])
    item_index = IdIndex(arrays["item_ids"])
    sources = {}
    for name, spec in config.sources.items():
        prefix = f"source/{name}/"
        source = build_source(spec)
        source.set_state({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
        if source.n_items_ != len(item_index):
            raise ValueError(f"source {name} has {source.n_items_} items, catalogue differs")
        sources[name] = source
    model = RecommenderModel(
        config=config,
        item_index=item_index,
        sources=sources,
        features=FeatureBuilder.from_state(
            {k[len("features/") :]: v for k, v in arrays.items() if k.startswith("features/")}
        ),
        vocabulary=dict(metadata["vocabulary"]),
        ranker=LightGBMRanker.from_string(ranker, metadata["config"]["ranker"]) if ranker else None,
        like=_like_from_state(arrays),
        fit_report=dict(metadata["fit_report"]),
    )
    if model.ranker and model.ranker.feature_names_ != model.feature_names:
        raise ValueError("ranker features do not match the model configuration")
    return model


def _like_from_state(arrays: Mapping[str, np.ndarray]) -> LikeModel | None:
    if _LIKE_KEY not in arrays:
        return None
    state = {k[len("like/") :]: v for k, v in arrays.items() if k.startswith("like/")}
    return LikeModel.from_state(state, arrays[_LIKE_KEY].tobytes().decode("utf-8"))


def save_model(model: RecommenderModel, path: str | os.PathLike[str]) -> None:
    """Atomically write ``model`` to ``path``.

    Parameters
    ----------
    model : RecommenderModel
        A fitted model (with or without its ranker).
    path : path-like
        Target file; its directory must exist.  ``.npz`` is conventional.
    """
    metadata, arrays, ranker = _model_state(model)
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    if any(value.dtype == object for value in arrays.values()):
        raise ArtifactError("model state holds object arrays, which cannot be stored safely")
    arrays[_MODEL_KEY] = _text_array(ranker)
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "sha256": _digest(arrays),
        **metadata,
    }
    target = Path(path)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays, **{_META_KEY: _text_array(json.dumps(document))})
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.info("saved model artifact %s (%d arrays)", target, len(arrays))


def load_model(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    require_ranker: bool = True,
    mmap: bool = False,
) -> RecommenderModel:
    """Load and validate an artifact written by :func:`save_model`.

    Parameters
    ----------
    source : path-like or binary file object
    require_ranker : bool
        Refuse an artifact saved after ``fit_sources()`` only (the default: such a
        model cannot recommend). Training stages pass False to continue it.
    mmap : bool
        Map the large arrays from ``source`` (a path or a real file) copy-on-write
        instead of reading them: every process mapping the same file shares them.

    Returns
    -------
    RecommenderModel
        Fully restored; never partially.

    Raises
    ------
    ArtifactError
        If the file is unreadable, truncated, corrupted, of another format or
        of another :data:`FORMAT_VERSION`.
    """
    try:
        if mmap:
            arrays = _mapped_arrays(source)
        else:
            if hasattr(source, "read"):
                source = io.BytesIO(source.read())
            with np.load(source, allow_pickle=False) as archive:
                arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ArtifactError(f"cannot read pipeline artifact: {error}") from error
    try:
        document: dict[str, Any] = json.loads(arrays.pop(_META_KEY).tobytes().decode("utf-8"))
    except (KeyError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"artifact metadata is missing or unreadable: {error}") from error
    if document.get("format") != FORMAT_NAME:
        raise ArtifactError(f"not a {FORMAT_NAME} artifact (format={document.get('format')!r})")
    if document.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"artifact format version {document.get('format_version')!r} is not supported "
            f"(expected {FORMAT_VERSION}); refit the pipeline"
        )
    if _digest(arrays) != document.get("sha256"):
        raise ArtifactError("artifact checksum mismatch: the file is corrupted")
    try:
        ranker = arrays.pop(_MODEL_KEY).tobytes().decode("utf-8")
        model = _model_from_state(document, arrays, ranker)
    except Exception as error:  # any inconsistency means the artifact is unusable
        raise ArtifactError(f"artifact content is inconsistent: {error}") from error
    if require_ranker and not model.has_ranker:
        raise ArtifactError("artifact holds recall sources only: its ranker was never trained")
    return model


def _mapped_arrays(source: str | os.PathLike[str] | BinaryIO) -> dict[str, np.ndarray]:
    """The artifact's arrays, the large uncompressed ones mapped copy-on-write."""
    if not hasattr(source, "read"):
        with open(source, "rb") as handle:
            return _mapped_arrays(handle)
    arrays = {}
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            key = info.filename.removesuffix(".npy")
            if info.compress_type != zipfile.ZIP_STORED or info.file_size < MMAP_MIN_BYTES:
                with archive.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
            else:
                arrays[key] = _mapped_member(source, info)
    return arrays


def _mapped_member(handle: BinaryIO, info: zipfile.ZipInfo) -> np.ndarray:
    """The ``.npy`` member ``info`` of an uncompressed zip, mapped where its data lies."""
    handle.seek(info.header_offset)
    signature, name_length, extra_length = _ZIP_LOCAL_HEADER.unpack(
        handle.read(_ZIP_LOCAL_HEADER.size)
    )
    if signature != b"PK\x03\x04":
        raise ValueError(f"member {info.filename} has no local zip header")
    handle.seek(info.header_offset + _ZIP_LOCAL_HEADER.size + name_length + extra_length)
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    if dtype.hasobject:
        raise ValueError(f"member {info.filename} holds Python objects")
    return np.memmap(
        handle,
        dtype=dtype,
        mode="c",
        offset=handle.tell(),
        shape=shape,
        order="F" if fortran else "C",
    )
