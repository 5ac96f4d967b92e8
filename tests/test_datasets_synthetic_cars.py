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
    assert synthetic_hsv_to_rgb(0.5, 2.0, 1.0) == (128, 0, 0)
    assert synthetic_hsv_to_rgb(0.0, 0.0, 1.0) == (128, 128, 128)
    assert synthetic_color_name(0.1667, 2.0, 1.0) == "navy"
    assert synthetic_color_name(0.0, 2.0, 2.0) == "aqua"


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
