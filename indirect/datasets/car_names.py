"""Labels read off a Cars196 class name such as ``AM General Hummer SUV 2000``.

A Cars196 class name is ``<make> <model words> [<body type>] <year>``. The make can be several
words (``Aston Martin``, ``Land Rover``), so it is matched against a list of multi-word makes
before falling back to the first word. The body type is the last body-type word in the name
(``Ram C/V Cargo Van Minivan`` is a Minivan, ``Infiniti G Coupe IPL`` a Coupe); a few classes
name no body type at all (``FIAT 500 Abarth``, ``Jaguar XK XKR``), and those take theirs from a
small table of the actual cars, written from the cars' own specifications.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MULTI_WORD_MAKES = ("AM General", "Alfa Romeo", "Aston Martin", "Land Rover", "Rolls Royce")

BODY_TYPES = ("Sedan", "SUV", "Coupe", "Convertible", "Hatchback", "Wagon", "Cab", "Van", "Minivan")

BODY_TYPE_OF_UNTYPED_CLASS = {
    "Acura Integra Type R 2001": "Coupe",
    "Acura TL Type-S 2008": "Sedan",
    "Buick Regal GS 2012": "Sedan",
    "Chevrolet Cobalt SS 2010": "Coupe",
    "Chevrolet Corvette Ron Fellows Edition Z06 2007": "Coupe",
    "Chevrolet Corvette ZR1 2012": "Coupe",
    "Chevrolet HHR SS 2010": "Wagon",
    "Chevrolet TrailBlazer SS 2009": "SUV",
    "Dodge Challenger SRT8 2011": "Coupe",
    "Dodge Charger SRT-8 2009": "Sedan",
    "FIAT 500 Abarth 2012": "Hatchback",
    "Jaguar XK XKR 2012": "Coupe",
    "Lamborghini Gallardo LP 570-4 Superleggera 2012": "Coupe",
}

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
    body_type = next((word for word in reversed(body_words[len(manufacturer.split(" ")):]) if word in BODY_TYPES), None)
    if body_type is None:
        body_type = BODY_TYPE_OF_UNTYPED_CLASS.get(name)
    return CarName(name, manufacturer, model, body_type, year)
