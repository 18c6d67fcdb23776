"""Tiny MovieLens files in the GroupLens layout, for tests that need exact control."""

from __future__ import annotations

from pathlib import Path

TINY_ITEMS = [
    "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story%20(1995)|"
    "0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0",
    "2|GoldenEye (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?GoldenEye%20(1995)|"
    "0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0",
    "3|Four Rooms (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Four%20Rooms%20(1995)|"
    "0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0",
    "4|Casablanca (1942)|01-Jan-1942|||0|0|0|0|0|0|0|0|1|0|0|0|0|0|1|0|0|1|0",
]
TINY_USERS = ["1|24|M|technician|85711", "2|53|F|other|94043", "3|23|M|writer|32067"]
TINY_RATINGS = [
    "1\t1\t5\t874965758",
    "1\t2\t3\t876893171",
    "2\t1\t4\t888550871",
    "2\t4\t5\t888551007",
    "3\t3\t1\t889237455",
    "3\t4\t2\t889237500",
]


def write_grouplens(
    folder: Path,
    *,
    items: list[str] = TINY_ITEMS,
    users: list[str] = TINY_USERS,
    ratings: list[str] = TINY_RATINGS,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")
    (folder / "u.user").write_text("\n".join(users) + "\n", encoding="latin-1")
    (folder / "u.data").write_text("\n".join(ratings) + "\n", encoding="latin-1")
    return folder
