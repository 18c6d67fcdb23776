"""Tiny files in the layouts of the MovieLens releases after ml-100k, written from each
release's README, awkward parts included (latin-1 and UTF-8 titles, quoted commas,
``(no genres listed)``, half stars, a blank TMDb id, genome files that are not read)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from ingestion.models import Genre, Movie, Rating, Tag, Viewer

ML1M_MOVIES = [
    "1::Toy Story (1995)::Animation|Children's|Comedy",
    "2::Jumanji (1995)::Adventure|Children's|Fantasy",
    "73::Misérables, Les (1995)::Drama|Musical",
    "3952::Contender, The (2000)::Drama|Thriller",
]
ML1M_USERS = [
    "1::F::1::10::48067",
    "2::M::56::16::70072",
    "3::M::25::15::55117",
]
ML1M_RATINGS = [
    "1::1::5::978300760",
    "1::73::3::978302109",
    "2::1::4::978298413",
    "2::3952::5::978299000",
    "3::2::1::978297867",
    "3::73::2::978298709",
]

ML10M_MOVIES = [
    "1::Toy Story (1995)::Adventure|Animation|Children|Comedy|Fantasy",
    "2::Jumanji (1995)::Adventure|Children|Fantasy",
    "8606::Pull My Daisy (1958)::(no genres listed)",
]
ML10M_RATINGS = [
    "1::1::5::838985046",
    "1::2::3.5::838983525",
    "7::1::0.5::1049764791",
    "7::8606::4.5::1049764850",
    "9::2::2::1049765000",
]
ML10M_TAGS = [
    "15::1::excellent!::1215184630",
    "20::2::Robin Williams::1188263880",
    "20::2::Robin Williams::1188263999",
]

CSV_MOVIES = [
    "movieId,title,genres",
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy",
    '11,"American President, The (1995)",Comedy|Drama|Romance',
    "131262,Innocence (2014),Adventure|Fantasy|Horror",
    "149532,Marco Polo: One Hundred Eyes,(no genres listed)",
    '193609,"Amélie, or: the ""Fabulous"" (2001)",Comedy|Romance',
]
CSV_RATINGS = [
    "userId,movieId,rating,timestamp",
    "1,1,4.0,964982703",
    "1,11,3.5,964981247",
    "1,193609,5.0,964982224",
    "2,1,0.5,1445714835",
    "2,131262,2.5,1445714900",
    "3,149532,4.5,1306463578",
    "3,11,3.0,1306464000",
]
CSV_TAGS = [
    "userId,movieId,tag,timestamp",
    "2,1,funny,1445714994",
    '2,11,"politics, romance",1445714996',
    "4,193609,Paris,1445715000",
]
CSV_LINKS = [
    "movieId,imdbId,tmdbId",
    "1,0114709,862",
    "11,0112346,9087",
    "131262,3534838,",
    "149532,0055062,",
    "193609,0211915,194",
]


def _write(folder: Path, files: dict[str, list[str]], encoding: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (folder / name).write_text("\n".join(lines) + "\n", encoding=encoding)
    return folder


def write_ml1m(folder: Path, **overrides: list[str]) -> Path:
    files = {"movies.dat": ML1M_MOVIES, "users.dat": ML1M_USERS, "ratings.dat": ML1M_RATINGS}
    return _write(folder, {**files, **overrides}, "latin-1")


def write_ml10m(folder: Path, **overrides: list[str]) -> Path:
    files = {"movies.dat": ML10M_MOVIES, "ratings.dat": ML10M_RATINGS, "tags.dat": ML10M_TAGS}
    return _write(folder, {**files, **overrides}, "utf-8")


def write_csv_release(folder: Path, **overrides: list[str]) -> Path:
    files = {
        "movies.csv": CSV_MOVIES,
        "ratings.csv": CSV_RATINGS,
        "tags.csv": CSV_TAGS,
        "links.csv": CSV_LINKS,
        "genome-tags.csv": ["tagId,tag", "1,007"],
    }
    return _write(folder, {**files, **overrides}, "utf-8")


def zip_release(folder: Path, archive: Path) -> Path:
    """``folder`` zipped as GroupLens publishes it: the release folder inside the zip."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr(f"{folder.name}/", "")
        for member in sorted(folder.iterdir()):
            out.write(member, f"{folder.name}/{member.name}")
    return archive


def database_snapshot() -> dict[str, list]:
    """Everything a loader may write, in a comparable form."""
    return {
        "genres": list(Genre.objects.order_by("id").values_list()),
        "movies": list(Movie.objects.order_by("id").values_list()),
        "movie_genres": list(Movie.genres.through.objects.order_by("id").values_list()),
        "viewers": list(Viewer.objects.order_by("id").values_list()),
        "ratings": list(Rating.objects.order_by("id").values_list()),
        "tags": list(Tag.objects.order_by("id").values_list()),
    }
