"""Which MovieLens release a folder or zip holds, told by its files, and reading it.

| marker file   | layout                                            |
| ------------- | ------------------------------------------------- |
| ``u.data``      | ml-100k (:mod:`.grouplens`, the ``loadml100k`` path)  |
| ``ratings.dat`` | ml-1m with ``users.dat``, else ml-10m (:mod:`.movielens_dat`) |
| ``ratings.csv`` | ml-20m/25m/32m/latest(-small) (:mod:`.movielens_csv`) |

A zip may hold the files at its root or inside the release's folder (``ml-25m/``), as
GroupLens publishes them.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .base import DataFormatError, MovieLensRelease, SourceFiles, folder_files, open_zip, zip_files
from .grouplens import read_grouplens_files
from .movielens_csv import read_csv_release
from .movielens_dat import read_dat_release

MARKERS = ("u.data", "ratings.dat", "ratings.csv")


@contextmanager
def open_release(
    path: Path,
    *,
    known_movie_ids: frozenset[int] = frozenset(),
    known_viewer_ids: frozenset[int] = frozenset(),
) -> Iterator[MovieLensRelease]:
    """The release at ``path`` (folder or zip); its ratings stream while the context is open.

    ``known_*_ids``: rows already in the database, which the files may refer to.
    """
    path = Path(path)
    if path.is_dir():
        yield _read(folder_files(path), _marker_in_folder(path), known_movie_ids, known_viewer_ids)
        return
    if not path.exists():
        raise DataFormatError(str(path), None, "does not exist")
    with open_zip(path) as archive:
        marker, prefix = _marker_in_zip(archive, path.name)
        files = zip_files(archive, prefix, path.name)
        yield _read(files, marker, known_movie_ids, known_viewer_ids)


def _read(
    files: SourceFiles,
    marker: str,
    known_movie_ids: frozenset[int],
    known_viewer_ids: frozenset[int],
) -> MovieLensRelease:
    known = {"known_movie_ids": known_movie_ids, "known_viewer_ids": known_viewer_ids}
    if marker == "ratings.csv":
        return read_csv_release(files, **known)
    if marker == "ratings.dat":
        return read_dat_release(files, **known)
    return read_grouplens_files(files, **known).as_release()


def _marker_in_folder(folder: Path) -> str:
    for marker in MARKERS:
        if (folder / marker).is_file():
            return marker
    raise DataFormatError(str(folder), None, _not_a_release())


def _marker_in_zip(archive: zipfile.ZipFile, label: str) -> tuple[str, str]:
    """The marker file and the folder prefix of the release inside the zip."""
    names = archive.namelist()
    for marker in MARKERS:
        found = [name for name in names if name.rsplit("/", 1)[-1] == marker]
        if found:
            return marker, min(found, key=len)[: -len(marker)]
    raise DataFormatError(label, None, _not_a_release())


def _not_a_release() -> str:
    return f"holds none of {', '.join(MARKERS)}: not a MovieLens release"
