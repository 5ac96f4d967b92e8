"""Movie posters (Wei-Ta Chu's Movie Poster Dataset): genre and country of production.

The metadata are OMDb records; the label of a poster is the first value of its comma-separated
``Genre`` / ``Country`` field ("Action, Adventure" -> "Action"), as in the paper, which keeps
"N/A" as a value of its own. The prompt vocabularies of the two notions are the label values
found, as in the paper (``texts = [... for m in set(labels)]``): ``vocabularies["genres"]`` and
``vocabularies["countries"]``, sorted.
"""
from __future__ import annotations

import codecs
import io
import json
import re
from pathlib import Path

import pandas as pd

from indirect.datasets.base import DatasetError, LabelledImages, require_root
from indirect.errors import one_line

NAME = "movie_posters"
SOURCE = "https://www.cs.ccu.edu.tw/~wtchu/projects/MoviePoster/"
LAYOUT = ("Movie_Poster_Dataset/<year>/<imdbID>.jpg and Movie_Poster_Metadata/groundtruth/<year>.txt "
          "(OMDb JSON records, UTF-16)")
REQUIRED = ("imdbID", "Genre", "Country")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
METADATA_SUFFIXES = (".txt", ".json", ".csv")
# MongoDB shell exports (the official groundtruth files) write the record id as ObjectId("..."): read it as "..."
_OBJECT_ID = re.compile(r'\bObjectId\(\s*("(?:[^"\\]|\\.)*")\s*\)')


def load_movie_posters(root, metadata=None) -> LabelledImages:
    """One row per imdbID that has a poster, labels ``genre``, ``country`` (and the raw OMDb fields).

    Metadata are read from ``metadata`` (a file or folder, relative to ``root`` or absolute) or by
    default from every .txt/.json/.csv file in ``Movie_Poster_Metadata/groundtruth/``. Each file may be (check):
    a stream of concatenated JSON objects or a JSON array, in UTF-16 (LE or BE, told by the BOM;
    without a BOM, NUL bytes mean UTF-16-LE), UTF-8 with or without a BOM, where a MongoDB shell
    value ``ObjectId("5829ab8f...")`` (the official files' ``_id``) reads as the string inside it;
    or a CSV with at least the columns imdbID, Genre, Country. Posters are found by file name anywhere under
    ``Movie_Poster_Dataset/`` (not only in the year folder of the metadata file); when an imdbID
    appears twice, the first record in file-name order and the first poster in path order win.
    Ids are poster paths relative to ``root``. ``vocabularies`` holds the sorted ``genres`` and
    ``countries`` of the posters loaded (the prompt vocabularies ``dataset:genres`` /
    ``dataset:countries``).
    """
    root = require_root(NAME, root, LAYOUT, SOURCE)
    posters_dir = root / "Movie_Poster_Dataset"
    source = _resolve(root, metadata) if metadata else root / "Movie_Poster_Metadata" / "groundtruth"
    for needed in (posters_dir, source):
        if not needed.exists():
            raise DatasetError(f"dataset '{NAME}': {needed} not found; expected {LAYOUT} under {root} (download: {SOURCE})")
    files = sorted(path for path in source.rglob("*") if path.suffix.lower() in METADATA_SUFFIXES) if source.is_dir() else [source]
    records = pd.concat([read_metadata_file(path) for path in files], ignore_index=True) if files else pd.DataFrame()
    missing = [column for column in REQUIRED if column not in records.columns]
    if missing:
        raise DatasetError(f"dataset '{NAME}': metadata in {source} lack fields {', '.join(missing)}; expected {LAYOUT}")
    records["imdbID"] = records["imdbID"].astype(str).str.strip()
    records = records.drop_duplicates("imdbID")
    posters: dict[str, Path] = {}
    for path in sorted(posters_dir.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            posters.setdefault(path.stem, path)
    without_poster = ~records["imdbID"].isin(posters)
    records = records[~without_poster].copy()
    records["genre"] = records["Genre"].map(first_value)
    records["country"] = records["Country"].map(first_value)
    paths = [posters[imdb_id] for imdb_id in records["imdbID"]]
    ids = [path.relative_to(root).as_posix() for path in paths]
    records.index = pd.Index(ids, name="id")
    order = sorted(range(len(ids)), key=ids.__getitem__)
    ids = [ids[i] for i in order]
    vocabularies = {"genres": sorted(set(records["genre"])), "countries": sorted(set(records["country"]))}
    return LabelledImages(NAME, root, ids, [paths[i].resolve() for i in order], records.loc[ids],
                          vocabularies=vocabularies, skipped=int(without_poster.sum()))


def first_value(field) -> str:
    """First comma-separated value of an OMDb list field; a missing field reads as OMDb's "N/A"."""
    if field is None or (isinstance(field, float) and field != field):
        return "N/A"
    return str(field).split(",")[0].strip() or "N/A"


def read_metadata_file(path: Path) -> pd.DataFrame:
    """OMDb records of one file: JSON object stream, JSON array or CSV, in any of the encodings above."""
    try:
        text = decode(path.read_bytes())
    except UnicodeDecodeError as error:   # never read with replacement characters: they would become label values
        bad = error.object[error.start:error.start + 1]
        line = error.object[:error.start].count(b"\n") + 1
        raise DatasetError(f"dataset '{NAME}': {path} line {line}: byte {bad!r} is not {error.encoding} (the file is "
                           f"in another encoding, e.g. Latin-1 / Windows-1252); convert it to UTF-8 (iconv -f cp1252 "
                           f"-t utf-8 <file> > <new file>) and point dataset.metadata at the new file") from error
    stripped = text.lstrip()
    if stripped.startswith("["):
        records = _json_array(_OBJECT_ID.sub(r"\1", stripped), path)
    elif stripped.startswith("{"):
        records = _json_stream(_OBJECT_ID.sub(r"\1", stripped), path)
    elif not stripped:
        return pd.DataFrame()
    else:
        try:
            return pd.read_csv(io.StringIO(text), dtype=str)
        except pd.errors.ParserError as error:
            raise DatasetError(f"dataset '{NAME}': {path} is neither JSON nor a readable CSV ({one_line(error)}); "
                               f"expected OMDb JSON records or a CSV with columns {', '.join(REQUIRED)}") from error
    return pd.DataFrame(records)


def decode(raw: bytes) -> str:
    """Text of a metadata file whatever its encoding: the BOM decides, else NUL bytes mean UTF-16-LE, else UTF-8
    (strictly: bytes that are not UTF-8 raise UnicodeDecodeError rather than become replacement characters)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if raw.startswith(bom):
            return raw.decode(encoding)
    if b"\x00" in raw[:200]:
        return raw.decode("utf-16-le" if raw[1:2] == b"\x00" else "utf-16-be")
    return raw.decode("utf-8")


def _json_stream(text: str, path: Path) -> list[dict]:
    decoder, records, position = json.JSONDecoder(), [], 0
    while position < len(text):
        if text[position].isspace() or text[position] == ",":
            position += 1
            continue
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as error:
            raise DatasetError(f"dataset '{NAME}': {path} is not a stream of JSON objects ({_where(error)}); "
                               f"convert it or pass a JSON array / CSV as dataset.metadata") from error
        records.append(record)
    return records


def _json_array(text: str, path: Path) -> list[dict]:
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise DatasetError(f"dataset '{NAME}': {path} is not a valid JSON array ({_where(error)}); fix the file or "
                           f"pass the original groundtruth folder / a CSV as dataset.metadata") from error
    if not all(isinstance(record, dict) for record in records):
        raise DatasetError(f"dataset '{NAME}': {path} is a JSON array of something other than objects; expected one "
                           f"OMDb record (an object with imdbID, Genre, Country) per element")
    return records


def _where(error: json.JSONDecodeError) -> str:
    """``<message> at line L column C: '<text there>'`` of a JSON error, for its one-line refusal."""
    excerpt = error.doc[max(0, error.pos - 15): error.pos + 15].replace("\n", " ").replace("\r", " ")
    return f"{error.msg} at line {error.lineno} column {error.colno}: {excerpt!r}"


def _resolve(root: Path, location) -> Path:
    path = Path(str(location)).expanduser()
    return path if path.is_absolute() else root / path
