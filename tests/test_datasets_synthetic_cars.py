import pytest

from indirect.datasets.base import DatasetError
from indirect.datasets.css_colors import CSS21_COLORS, nearest_css21, synthetic_color_name, synthetic_hsv_to_rgb
from indirect.datasets.synthetic_cars import load_synthetic_cars
from layouts import SYNTHETIC_FRAMES, make_synthetic_cars


def test_every_css21_colour_matches_itself_exactly():
    assert len(CSS21_COLORS) == 17
    for name, rgb in CSS21_COLORS.items():
        assert nearest_css21(rgb) == name


@pytest.mark.parametrize("rgb, name", [((250, 160, 10), "orange"), ((130, 5, 0), "maroon"), ((26, 26, 26), "black"),
                                       ((204, 204, 204), "silver"), ((10, 120, 130), "teal")])
def test_other_colours_take_the_nearest_name(rgb, name):
    assert nearest_css21(rgb) == name


def test_renderer_hsv_is_shifted_and_halved_before_naming():
    assert synthetic_hsv_to_rgb(0.5, 2.0, 1.0) == (127, 0, 0)  # int(255 * 0.5): truncated as in the paper
    assert synthetic_hsv_to_rgb(0.0, 0.0, 1.0) == (127, 127, 127)
    assert synthetic_color_name(0.1667, 2.0, 1.0) == "navy"
    assert synthetic_color_name(0.0, 2.0, 2.0) == "cyan"  # webcolors' exact CSS3 name of (0, 255, 255)


def test_loads_frames_up_to_the_limit_with_colour_names(tmp_path):
    data = load_synthetic_cars(make_synthetic_cars(tmp_path))
    assert len(data) == 10 and "cars/1001.png" not in data.ids
    for frame, (model, _, _, color, background) in SYNTHETIC_FRAMES.items():
        if frame <= 1000:
            row = data.labels.loc[f"cars/{frame}.png"]
            assert (row["model"], row["color"], row["background_color"]) == (model, color, background)
    assert {"cam_azimuth", "light_index", "color_hue"} <= set(data.labels.columns)
    assert all(path.is_absolute() and path.exists() for path in data.paths)


def test_frames_none_keeps_every_frame(tmp_path):
    assert len(load_synthetic_cars(make_synthetic_cars(tmp_path), frames=None)) == 11
    assert len(load_synthetic_cars(tmp_path / "synthetic_cars", frames=3)) == 3


def test_ids_do_not_depend_on_csv_order(tmp_path):
    first = load_synthetic_cars(make_synthetic_cars(tmp_path / "a"))
    second = load_synthetic_cars(make_synthetic_cars(tmp_path / "b", reverse=True))
    assert first.ids == second.ids
    assert first.labels["color"].to_dict() == second.labels["color"].to_dict()


def test_missing_root_and_files_give_one_line_errors(tmp_path):
    with pytest.raises(DatasetError, match="synthetic_cars.*does not exist.*DML-analysis"):
        load_synthetic_cars(tmp_path / "nowhere")
    root = make_synthetic_cars(tmp_path)
    (root / "cars.csv").unlink()
    with pytest.raises(DatasetError, match="cars.csv not found") as error:
        load_synthetic_cars(root)
    assert "\n" not in str(error.value)


def _edit_row(root, frame, column, value):
    lines = (root / "cars.csv").read_text().splitlines()
    header = lines[0].split(",")
    for number, line in enumerate(lines):
        cells = line.split(",")
        if number and cells[0] == str(frame):
            cells[header.index(column)] = value
            lines[number] = ",".join(cells)
            break
    (root / "cars.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("frame, column, value, expected", [
    (1, "frame", "x1", r"cars.csv line 2: frame is 'x1', not an integer; every row needs an integer frame"),
    (1, "color_hue", "", r"cars.csv line 2: color_hue is empty, not a number; every row needs"),
    (7, "bg_color_val", "dark", r"cars.csv line 8: bg_color_val is 'dark', not a number"),
])
def test_malformed_cells_are_one_line_errors_with_their_line(tmp_path, frame, column, value, expected):
    root = make_synthetic_cars(tmp_path)
    _edit_row(root, frame, column, value)
    with pytest.raises(DatasetError, match=expected) as error:
        load_synthetic_cars(root)
    assert "\n" not in str(error.value)


def test_empty_colour_of_a_frame_left_out_is_not_refused(tmp_path):
    root = make_synthetic_cars(tmp_path)
    _edit_row(root, 1001, "color_hue", "")  # beyond the paper's 1000 frames
    assert len(load_synthetic_cars(root)) == 10


def test_a_frame_listed_twice_with_different_labels_is_refused_not_first_wins(tmp_path):
    """Frame 3 (a cyan sedan) listed again as a black pickup silently kept the first row."""
    root = make_synthetic_cars(tmp_path)
    path = root / "cars.csv"
    original = path.read_text()
    row = next(line for line in original.splitlines() if line.startswith("3,"))
    path.write_text(original + row + "\n")                     # the same row again: harmless
    assert load_synthetic_cars(root).labels.loc["cars/3.png", "color"] == "cyan"
    path.write_text(original + "3,pickup,0.0,0.0,0.0,0.0,0.0,1.0,0.3,0\n")
    with pytest.raises(DatasetError, match=r"cars.csv line 13: frame 3 is listed on lines 4, 13 with different model, "
                                           r"color_sat, color_val; keep one row per frame") as error:
        load_synthetic_cars(root)
    assert "\n" not in str(error.value)
