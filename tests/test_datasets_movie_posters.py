import codecs
import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from indirect.datasets.base import DatasetError
from indirect.datasets.movie_posters import decode, first_value, load_movie_posters
from indirect.notions import lookup_notion
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


def _raw_groundtruth(records) -> bytes:
    """Records the way the official groundtruth files hold them: a MongoDB shell dump in UTF-16 with its BOM."""
    text = ""
    for number, record in enumerate(records):
        fields = ",\n".join(f'\t"{key}" : {json.dumps(value, ensure_ascii=False)}' for key, value in record.items())
        text += f'{{\n\t"_id" : ObjectId("5829ab8fa7f98a1a84ac9a{number:02d}"),\n{fields}\n}}\n'
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def test_official_groundtruth_with_object_ids(tmp_path):
    root = make_movie_posters(tmp_path)
    for year, records in MOVIE_RECORDS.items():
        (root / "Movie_Poster_Metadata" / "groundtruth" / f"{year}.txt").write_bytes(_raw_groundtruth(records))
    data = load_movie_posters(root)
    assert _labels_by_imdb_id(data) == MOVIE_EXPECTED
    assert data.labels.loc["Movie_Poster_Dataset/2015/tt0000001.jpg", "_id"] == "5829ab8fa7f98a1a84ac9a00"
    assert data.labels.loc["Movie_Poster_Dataset/2016/tt0000006.jpg", "Title"] == "Zeta – ümlaut"


def test_object_id_inside_a_json_array_too(tmp_path):
    root = make_movie_posters(tmp_path)
    (root / "all.json").write_text('[{"_id": ObjectId( "abc" ), "imdbID": "tt0000002", "Genre": "Drama", '
                                   '"Country": "France"}]')
    data = load_movie_posters(root, metadata="all.json")
    assert data.labels["_id"].tolist() == ["abc"] and data.labels["genre"].tolist() == ["Drama"]


def test_broken_json_array_is_one_line_error_with_its_place(tmp_path):
    root = make_movie_posters(tmp_path)
    (root / "all.json").write_text('[{"imdbID": "tt0000001", "Genre": "Action", "Country": "USA"},\n]')
    with pytest.raises(DatasetError, match=r"all.json is not a valid JSON array \(Expecting value at line 2 column 1: "
                                           r".*\); fix the file") as error:
        load_movie_posters(root, metadata="all.json")
    assert "\n" not in str(error.value)
    (root / "all.json").write_text('["tt0000001"]')
    with pytest.raises(DatasetError, match="JSON array of something other than objects"):
        load_movie_posters(root, metadata="all.json")


def test_genre_and_country_prompts_are_the_values_loaded(tmp_path):
    data = load_movie_posters(make_movie_posters(tmp_path))
    assert data.vocabularies == {"genres": ["Action", "Comedy", "Drama", "N/A"], "countries": ["France", "Japan", "USA"]}
    config = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "dataset" / "movie_posters.yaml")
    genre, country = lookup_notion(config, "genre"), lookup_notion(config, "country")
    assert genre.prompts(data) == [f"a poster of a {g} movie" for g in ["Action", "Comedy", "Drama", "N/A"]]
    assert set(country.prompts(data)) == {f"a poster of a movie produced in {m}" for m in set(country.labels(data))}
    assert "Horror" not in " ".join(genre.prompts(data))  # the genre of a dropped duplicate record is not a prompt


def test_metadata_not_in_utf8_is_refused_not_read_with_replacement_characters(tmp_path):
    """A Windows-1252 CSV made the country "C\\ufffdte d'Ivoire", a label value and a prompt word."""
    from layouts import make_movie_posters
    root = make_movie_posters(tmp_path)
    (root / "all.csv").write_bytes("imdbID,Genre,Country\ntt0000001,Action,Côte d'Ivoire\n".encode("cp1252"))
    with pytest.raises(DatasetError, match=r"all.csv line 2: byte b'\\xf4' is not utf-8 .*convert it to UTF-8 "
                                           r"\(iconv -f cp1252 -t utf-8") as error:
        load_movie_posters(root, metadata="all.csv")
    assert "\n" not in str(error.value)
    (root / "all.csv").write_bytes("imdbID,Genre,Country\ntt0000001,Action,Côte d'Ivoire\n".encode("utf-8"))
    assert load_movie_posters(root, metadata="all.csv").vocabularies["countries"] == ["Côte d'Ivoire"]
