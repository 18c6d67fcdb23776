"""Single-file artifacts of a fitted pipeline.

An artifact is one ``.npz`` (zip) file holding the learned numpy arrays, the
LightGBM text model (UTF-8 bytes as a ``uint8`` array) and a JSON metadata
document (also ``uint8``), so it loads with ``allow_pickle=False`` and fits a
Django ``FileField``.  The metadata carries :data:`FORMAT_VERSION` and a SHA-256
digest of every array; a truncated, corrupted or foreign-version file raises
:class:`ArtifactError` and nothing is returned half-loaded.

Writes go to a temporary file in the target directory which is then
``os.replace``-d over the target, so readers never see a partial file.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from recommender.engine.pipeline import RecommenderPipeline

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FORMAT_NAME = "videorec-engine-pipeline"
_META_KEY = "__metadata__"
_MODEL_KEY = "__lightgbm_model__"


class ArtifactError(Exception):
    """The artifact cannot be used (corrupt, truncated, foreign or wrong version)."""


def _digest(arrays: dict[str, np.ndarray]) -> str:
    hasher = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        hasher.update(key.encode())
        hasher.update(str(array.dtype).encode())
        hasher.update(str(array.shape).encode())
        hasher.update(array.tobytes())
    return hasher.hexdigest()


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


def save_pipeline(pipeline: RecommenderPipeline, path: str | os.PathLike[str]) -> None:
    """Atomically write ``pipeline`` to ``path``.

    Parameters
    ----------
    pipeline : RecommenderPipeline
        A fitted pipeline.
    path : path-like
        Target file; its directory must exist.  ``.npz`` is conventional.
    """
    metadata, arrays, model = pipeline.get_state()
    arrays = {key: np.asarray(value) for key, value in arrays.items()}
    if any(value.dtype == object for value in arrays.values()):
        raise ArtifactError("pipeline state holds object arrays, which cannot be stored safely")
    arrays[_MODEL_KEY] = _text_array(model)
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
    logger.info("saved pipeline artifact %s (%d arrays)", target, len(arrays))


def load_pipeline(
    source: str | os.PathLike[str] | BinaryIO, *, require_ranker: bool = True
) -> RecommenderPipeline:
    """Load and validate an artifact written by :func:`save_pipeline`.

    Parameters
    ----------
    source : path-like or binary file object
    require_ranker : bool
        Refuse an artifact saved after ``fit_sources()`` only (the default: such a
        pipeline cannot recommend). Training stages pass False to continue it.

    Returns
    -------
    RecommenderPipeline
        Fully restored; never partially.

    Raises
    ------
    ArtifactError
        If the file is unreadable, truncated, corrupted, of another format or
        of another :data:`FORMAT_VERSION`.
    """
    try:
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
        model = arrays.pop(_MODEL_KEY).tobytes().decode("utf-8")
        pipeline = RecommenderPipeline.from_state(document, arrays, model)
    except Exception as error:  # any inconsistency means the artifact is unusable
        raise ArtifactError(f"artifact content is inconsistent: {error}") from error
    if require_ranker and not pipeline.is_fitted:
        raise ArtifactError("artifact holds recall sources only: its ranker was never trained")
    return pipeline
