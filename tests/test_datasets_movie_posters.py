import codecs
import json

import pytest

from indirect.datasets.base import DatasetError
from indirect.datasets.movie_posters import decode, first_value, load_movie_posters
from layouts import MOVIE_EXPECTED, MOVIE_RECORDS, make_movie_posters


def _labels_by_imdb_id(data):
    return {row["imdbID"]: (row["genre"], row["country"]) for _, row in data.labels.iterrows()}


def test_first_value_of_omdb_lists():
    assert first_value("Action, Adventure") == "Action"
    assert first_value("N/A") == "N/A"
    assert first_value(None) == "N/A"


def test_decode_tells_encodings_apart():
    text = '{"a": "ü"}'
    assert decode(codecs.BOM_UTF16_LE + text.encode("utf-16-le")) == text
    assert decode(codecs.BOM_UTF16_BE + text.encode("utf-16-be")) == text
    assert decode(text.encode("utf-16-le")) == text
    assert decode(codecs.BOM_UTF8 + text.encode()) == text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-8"])
def test_json_streams_give_one_row_per_poster(tmp_path, encoding):
    data = load_movie_posters(make_movie_posters(tmp_path, encoding=encoding))
    assert _labels_by_imdb_id(data) == MOVIE_EXPECTED
    assert data.skipped == 1
    assert data.labels.loc["Movie_Poster_Dataset/2016/tt0000006.jpg", "Title"] == "Zeta – ümlaut"
    assert all(path.exists() for path in data.paths)


def test_converted_json_array_and_csv(tmp_path):
    root = make_movie_posters(tmp_path)
    records = [record for year in MOVIE_RECORDS.values() for record in year]
    (root / "all.json").write_text(json.dumps(records))
    assert _labels_by_imdb_id(load_movie_posters(root, metadata="all.json")) == MOVIE_EXPECTED
    csv_lines = ["imdbID,Genre,Country"] + [f'{r["imdbID"]},"{r["Genre"]}","{r["Country"]}"' for r in records]
    (root / "all.csv").write_text("\n".join(csv_lines) + "\n")
    assert _labels_by_imdb_id(load_movie_posters(root, metadata=str(root / "all.csv"))) == MOVIE_EXPECTED


def test_ids_do_not_depend_on_record_order(tmp_path):
    first = load_movie_posters(make_movie_posters(tmp_path / "a"))
    second = load_movie_posters(make_movie_posters(tmp_path / "b", reverse=True))
    assert first.ids == second.ids
    assert first.labels["genre"].to_dict() == second.labels["genre"].to_dict()


def test_missing_and_malformed_metadata(tmp_path):
    with pytest.raises(DatasetError, match="movie_posters.*does not exist.*wtchu"):
        load_movie_posters(tmp_path / "nowhere")
    root = make_movie_posters(tmp_path)
    (root / "broken.txt").write_text('{"imdbID": "tt1", ')
    with pytest.raises(DatasetError, match="not a stream of JSON objects"):
        load_movie_posters(root, metadata="broken.txt")
    (root / "fields.csv").write_text("imdbID,Title\ntt0000001,Alpha\n")
    with pytest.raises(DatasetError, match="lack fields Genre, Country"):
        load_movie_posters(root, metadata="fields.csv")
