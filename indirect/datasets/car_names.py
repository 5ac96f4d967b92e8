"""Labels read off a Cars196 class name such as ``AM General Hummer SUV 2000``.

A Cars196 class name is ``<make> <model words> [<body type>] <year>``. The make can be several
words (``Aston Martin``, ``Land Rover``), so it is matched against a list of multi-word makes
before falling back to the first word.

The body type comes from ``car_types.csv`` (shipped with the package): every one of the 196
Stanford Cars class names with its type, so that every image has one. Most names end in a
body-type word (``Ram C/V Cargo Van Minivan`` is a Minivan, ``Infiniti G Coupe IPL`` a Coupe);
15 do not (``FIAT 500 Abarth``, ``Ford Ranger SuperCab``, ``Jaguar XK XKR``) and carry the
type of the actual car, written from the cars' own specifications. A name outside the table
(a renamed or foreign copy of the dataset) falls back to its last body-type word.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

MULTI_WORD_MAKES = ("AM General", "Alfa Romeo", "Aston Martin", "Land Rover", "Rolls Royce")

BODY_TYPES = ("Sedan", "SUV", "Coupe", "Convertible", "Hatchback", "Wagon", "Cab", "Van", "Minivan")

TYPE_TABLE = "car_types.csv"

_YEAR = re.compile(r"^(19|20)\d\d$")


@dataclass(frozen=True)
class CarName:
    """The parts of one class name; ``body_type`` and ``year`` are None when the name lacks them."""

    class_name: str
    manufacturer: str
    model: str
    body_type: str | None
    year: int | None


def parse_car_name(class_name: str) -> CarName:
    """Split a Cars196 class name into make, model, body type and year."""
    name = " ".join(str(class_name).split())
    words = name.split(" ")
    year = int(words[-1]) if words and _YEAR.match(words[-1]) else None
    body_words = words[:-1] if year is not None else words
    manufacturer = next((make for make in MULTI_WORD_MAKES if name.lower().startswith(make.lower() + " ")), words[0])
    manufacturer = name[: len(manufacturer)]
    model = " ".join(body_words[len(manufacturer.split(" ")):])
    body_type = body_type_table().get(name.casefold()) or next(
        (word for word in reversed(body_words[len(manufacturer.split(" ")):]) if word in BODY_TYPES), None)
    return CarName(name, manufacturer, model, body_type, year)


@lru_cache(maxsize=1)
def body_type_table() -> dict[str, str]:
    """``car_types.csv`` as {class name (casefolded): body type}."""
    with resources.files("indirect.datasets").joinpath(TYPE_TABLE).open(newline="", encoding="utf-8") as handle:
        return {" ".join(row["class_name"].split()).casefold(): row["type"] for row in csv.DictReader(handle)}
