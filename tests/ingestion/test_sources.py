"""File formats: GroupLens folder, GroupLens zip and the RecBole wheel, good and bad."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from movielens_files import TINY_ITEMS, TINY_RATINGS, TINY_USERS, write_grouplens

from ingestion.sources.base import DataFormatError
from ingestion.sources.grouplens import GROUPLENS_GENRES, read_grouplens_folder, read_grouplens_zip
from ingestion.sources.recbole import RECBOLE_MEMBER_DIR, read_recbole_wheel


def _write_recbole_wheel(
    path: Path, *, inter: list[str], items: list[str], users: list[str]
) -> Path:
    """A zip laid out like the recbole wheel, holding only the three MovieLens members."""
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(
            RECBOLE_MEMBER_DIR + "ml-100k.inter",
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + "\n".join(inter),
        )
        wheel.writestr(
            RECBOLE_MEMBER_DIR + "ml-100k.item",
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
            + "\n".join(items),
        )
        wheel.writestr(
            RECBOLE_MEMBER_DIR + "ml-100k.user",
            "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
            + "\n".join(users),
        )
    return path


def test_grouplens_folder_is_parsed_into_typed_frames(tiny_dir: Path) -> None:
    data = read_grouplens_folder(tiny_dir)

    assert data.genres == GROUPLENS_GENRES
    toy_story = data.movies.set_index("id").loc[1]
    assert toy_story.title == "Toy Story (1995)"
    assert toy_story.year == 1995
    assert toy_story.release_date == dt.date(1995, 1, 1)
    assert toy_story.video_release_date is None
    assert toy_story.genres == ("Animation", "Children's", "Comedy")
    assert data.viewers.set_index("id").loc[2].to_dict() == {
        "age": 53,
        "gender": "F",
        "occupation": "other",
        "zip_code": "94043",
    }
    assert data.ratings.iloc[0].to_dict() == {
        "viewer_id": 1,
        "movie_id": 1,
        "score": 5,
        "timestamp": 874965758,
    }
    assert len(data.checksum) == 64


def test_checksum_changes_with_the_content(tiny_dir: Path, tmp_path: Path) -> None:
    other = write_grouplens(tmp_path / "other", ratings=[*TINY_RATINGS[:-1], "3\t4\t3\t889237500"])
    assert read_grouplens_folder(tiny_dir).checksum == read_grouplens_folder(tiny_dir).checksum
    assert read_grouplens_folder(tiny_dir).checksum != read_grouplens_folder(other).checksum


def test_u_genre_sets_the_flag_order(tiny_dir: Path) -> None:
    reordered = ("Action", "unknown", *GROUPLENS_GENRES[2:])
    (tiny_dir / "u.genre").write_text(
        "".join(f"{name}|{i}\n" for i, name in enumerate(reordered)) + "\n"
    )
    goldeneye = read_grouplens_folder(tiny_dir).movies.set_index("id").loc[2]
    assert goldeneye.genres == ("unknown", "Adventure", "Thriller")


def test_blank_lines_and_crlf_are_tolerated(tmp_path: Path) -> None:
    folder = write_grouplens(
        tmp_path / "gl", ratings=[TINY_RATINGS[0] + "\r", "", *TINY_RATINGS[1:]]
    )
    assert len(read_grouplens_folder(folder).ratings) == len(TINY_RATINGS)


def test_full_grouplens_folder(grouplens_dir: Path) -> None:
    data = read_grouplens_folder(grouplens_dir)

    assert (len(data.viewers), len(data.movies), len(data.ratings)) == (943, 1682, 100_000)
    assert len(data.genres) == 19
    assert round((data.ratings["score"] >= 4).mean(), 3) == 0.554
    unknown = data.movies.set_index("id").loc[267]
    assert (unknown.title, unknown.release_date) == ("unknown", None)
    assert pd.isna(unknown.year)


def test_zip_reads_the_same_data_as_the_folder(grouplens_dir: Path, grouplens_zip: Path) -> None:
    folder, archive = read_grouplens_folder(grouplens_dir), read_grouplens_zip(grouplens_zip)
    assert archive.checksum == folder.checksum
    assert archive.ratings.equals(folder.ratings)
    assert archive.movies.equals(folder.movies)


def test_recbole_wheel_matches_grouplens(tmp_path: Path) -> None:
    wheel = _write_recbole_wheel(
        tmp_path / "recbole.whl",
        inter=["1\t1\t5\t874965758", "2\t267\t3\t888550871", "2\t1412\t4.0\t888551007"],
        items=[
            "1\tToy Story\t1995\tAnimation Children's Comedy",
            "267\tunkonwn\tunkonwn\tunknown",
            "1412\tLand Before Time III: The Time of the Great Giving (1995)\tV\tAnimation",
        ],
        users=["1\t24\tM\ttechnician\t85711", "2\t53\tF\tother\t94043"],
    )
    data = read_recbole_wheel(wheel)

    movies = data.movies.set_index("id")
    assert movies.loc[1].title == "Toy Story (1995)"
    assert movies.loc[1].genres == ("Animation", "Children's", "Comedy")
    assert movies.loc[267].title == "unknown"
    assert pd.isna(movies.loc[267].year)
    assert movies.loc[1412].title.endswith("(1995) (V)")
    assert movies.loc[1412].year == 1995
    assert data.ratings["score"].tolist() == [5, 3, 4]


@pytest.mark.parametrize(
    ("ratings", "message"),
    [
        (["1\t1\t7\t874965758"], "u.data line 1: rating 7 is outside the allowed range 1–5"),
        (["1\t1\t0\t874965758"], "u.data line 1: rating 0 is outside the allowed range 1–5"),
        (["1\t1\t3.5\t874965758"], "u.data line 1: rating '3.5' is not a whole number"),
        (["1\t1\t5\t1", "x\t2\t3\t874965758"], "u.data line 2: user id 'x' is not a whole number"),
        (["1\t1\t5\t1", "1\t2\t3"], "u.data line 2: expected 4 tab-separated fields, found 3"),
        (["1\t1\t5\t1\t9"], "u.data line 1: expected 4 tab-separated fields, found 5"),
        (["1\t99\t5\t1"], "u.data line 1: movie id 99 does not exist"),
        (["42\t1\t5\t1"], "u.data line 1: user id 42 does not exist"),
        (["1\t1\t5\t1", "1\t1\t4\t2"], "u.data line 2: user 1 rates movie 1 a second time"),
        (["1\t1\t\t1"], "u.data line 1: rating is empty"),
        (["1\t1\t5\t-4"], "u.data line 1: timestamp -4 is outside the allowed range"),
        ([""], "u.data: holds no data"),
    ],
)
def test_bad_ratings_are_reported_with_file_and_line(
    tmp_path: Path, ratings: list[str], message: str
) -> None:
    folder = write_grouplens(tmp_path / "gl", ratings=ratings)
    with pytest.raises(DataFormatError) as caught:
        read_grouplens_folder(folder)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("items", "users", "message"),
    [
        ([TINY_ITEMS[0].replace("|0|0|0|1|", "|0|0|0|")], TINY_USERS, "u.item line 1: expected 24"),
        ([TINY_ITEMS[0].replace("1|Toy", "one|Toy")], TINY_USERS, "u.item line 1: movie id 'one'"),
        ([TINY_ITEMS[0], TINY_ITEMS[0]], TINY_USERS, "u.item line 2: movie id 1 appears again"),
        (
            [TINY_ITEMS[0].replace("01-Jan-1995", "1995-01-01")],
            TINY_USERS,
            "u.item line 1: release date",
        ),
        (
            [TINY_ITEMS[0].replace("|0|0|0|1|", "|0|0|0|2|")],
            TINY_USERS,
            "u.item line 1: genre flags",
        ),
        (TINY_ITEMS, ["1|24|X|technician|85711"], "u.user line 1: gender 'X' is not M or F"),
        (
            TINY_ITEMS,
            ["1|old|M|technician|85711"],
            "u.user line 1: age 'old' is not a whole number",
        ),
        (TINY_ITEMS, ["1|24|M|technician"], "u.user line 1: expected 5 '|'-separated fields"),
    ],
)
def test_bad_movies_and_users_are_reported(
    tmp_path: Path, items: list[str], users: list[str], message: str
) -> None:
    folder = write_grouplens(tmp_path / "gl", items=items, users=users, ratings=["1\t1\t5\t1"])
    with pytest.raises(DataFormatError, match="^" + message.replace("(", r"\(")):
        read_grouplens_folder(folder)


def test_missing_and_unreadable_files(tiny_dir: Path, tmp_path: Path) -> None:
    (tiny_dir / "u.user").unlink()
    with pytest.raises(DataFormatError, match=r"^u\.user: is missing"):
        read_grouplens_folder(tiny_dir)

    (tiny_dir / "u.user").mkdir()
    with pytest.raises(DataFormatError, match=r"^u\.user: cannot be read"):
        read_grouplens_folder(tiny_dir)

    with pytest.raises(DataFormatError, match="is not a folder"):
        read_grouplens_folder(tmp_path / "nowhere")

    broken = tmp_path / "ml-100k.zip"
    broken.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(DataFormatError, match="is not a readable zip file"):
        read_grouplens_zip(broken)


def test_zip_without_movielens_files(tmp_path: Path) -> None:
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("readme.txt", "hello")
    with pytest.raises(DataFormatError, match=r"holds no u\.data"):
        read_grouplens_zip(archive)


def test_invalid_utf8_in_recbole_file_names_the_line(tmp_path: Path) -> None:
    wheel = _write_recbole_wheel(tmp_path / "recbole.whl", inter=["1\t1\t5\t1"], items=[], users=[])
    with zipfile.ZipFile(wheel) as original, zipfile.ZipFile(tmp_path / "bad.whl", "w") as out:
        for member in original.namelist():
            if member.endswith(".item"):
                continue
            out.writestr(member, original.read(member))
        out.writestr(
            RECBOLE_MEMBER_DIR + "ml-100k.item",
            b"item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
            b"1\tToy Story\t1995\tComedy\n2\tBad \xff\t1995\tComedy\n",
        )
    with pytest.raises(DataFormatError, match=r"ml-100k.item line 3: is not valid utf-8 text"):
        read_recbole_wheel(tmp_path / "bad.whl")


def test_known_ids_allow_ratings_for_rows_already_loaded(tmp_path: Path) -> None:
    folder = write_grouplens(tmp_path / "gl", ratings=["1\t1\t5\t1", "42\t77\t3\t2"])
    data = read_grouplens_folder(
        folder, known_movie_ids=frozenset({77}), known_viewer_ids=frozenset({42})
    )
    assert data.ratings["viewer_id"].tolist() == [1, 42]
