"""Which German state (Bundesland) a customer lives in, for the state's public holidays.

An explicit state (`customer.upserted` `attributes.state`: `BY`, `DE-BY` or `Bayern`) wins. Otherwise the
state is derived from a German postal code by the ranges of the postal regions (Postleitbereiche) as
Deutsche Post assigns them; the table is the list "Postleitzahlen nach Bundesländern" of the German
Wikipedia article "Postleitzahl (Deutschland)" (the same list the MIT package `plz-to-bundesland`
ships), with Lindau (88131-88179) moved to Bavaria. A few postal codes along state borders cover
villages of two states; the table names the state most of the code's addresses lie in, which is why
an explicit state wins. No state (foreign or missing address, unknown code): None, and quiet hours
then keep the nationwide holidays only.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from typing import Any

# ISO 3166-2 subdivision codes, as the `holidays` package names them.
STATES = frozenset({"BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL", "SN", "ST", "TH"})
STATE_NAMES = {
    "brandenburg": "BB",
    "berlin": "BE",
    "baden-württemberg": "BW",
    "baden-wuerttemberg": "BW",
    "bayern": "BY",
    "bavaria": "BY",
    "bremen": "HB",
    "hessen": "HE",
    "hesse": "HE",
    "hamburg": "HH",
    "mecklenburg-vorpommern": "MV",
    "niedersachsen": "NI",
    "lower saxony": "NI",
    "nordrhein-westfalen": "NW",
    "north rhine-westphalia": "NW",
    "rheinland-pfalz": "RP",
    "rhineland-palatinate": "RP",
    "schleswig-holstein": "SH",
    "saarland": "SL",
    "sachsen": "SN",
    "saxony": "SN",
    "sachsen-anhalt": "ST",
    "saxony-anhalt": "ST",
    "thüringen": "TH",
    "thueringen": "TH",
    "thuringia": "TH",
}
GERMANY = frozenset({"", "de", "deu", "germany", "deutschland"})

# (first postal code, last postal code, state), sorted and without overlaps.
_RANGES: tuple[tuple[int, int, str], ...] = (
    (1001, 1936, "SN"),
    (1941, 1998, "BB"),
    (2601, 2999, "SN"),
    (3001, 3253, "BB"),
    (4001, 4579, "SN"),
    (4581, 4639, "TH"),
    (4641, 4889, "SN"),
    (4891, 4938, "BB"),
    (6001, 6548, "ST"),
    (6551, 6578, "TH"),
    (6601, 6928, "ST"),
    (7301, 7989, "TH"),
    (8001, 9669, "SN"),
    (10001, 14330, "BE"),
    (14401, 16949, "BB"),
    (17001, 17256, "MV"),
    (17258, 17291, "BB"),
    (17301, 19260, "MV"),
    (19271, 19272, "NI"),
    (19273, 19306, "MV"),
    (19307, 19356, "BB"),
    (19357, 19417, "MV"),
    (20001, 21170, "HH"),
    (21202, 21449, "NI"),
    (21451, 21529, "SH"),
    (21601, 21789, "NI"),
    (22001, 22786, "HH"),
    (22801, 23919, "SH"),
    (23921, 23999, "MV"),
    (24001, 25999, "SH"),
    (26001, 27478, "NI"),
    (27483, 27498, "SH"),
    (27501, 27580, "HB"),
    (27607, 27809, "NI"),
    (28001, 28779, "HB"),
    (28784, 29399, "NI"),
    (29401, 29416, "ST"),
    (29431, 31868, "NI"),
    (32001, 33829, "NW"),
    (34001, 34399, "HE"),
    (34401, 34439, "NW"),
    (34441, 36399, "HE"),
    (36401, 36469, "TH"),
    (37001, 37299, "NI"),
    (37301, 37359, "TH"),
    (37401, 37649, "NI"),
    (37651, 37696, "NW"),
    (37697, 38479, "NI"),
    (38481, 38489, "ST"),
    (38501, 38729, "NI"),
    (38801, 39649, "ST"),
    (40001, 48432, "NW"),
    (48442, 48531, "NI"),
    (48541, 48739, "NW"),
    (49001, 49459, "NI"),
    (49461, 49549, "NW"),
    (49551, 49849, "NI"),
    (50101, 53359, "NW"),
    (53401, 53579, "RP"),
    (53581, 53949, "NW"),
    (54181, 56869, "RP"),
    (57001, 57489, "NW"),
    (57501, 57648, "RP"),
    (58001, 59969, "NW"),
    (60001, 63699, "HE"),
    (63701, 63939, "BY"),
    (64201, 65936, "HE"),
    (66001, 66459, "SL"),
    (66461, 66509, "RP"),
    (66511, 66839, "SL"),
    (66841, 67829, "RP"),
    (68001, 68312, "BW"),
    (68501, 68649, "HE"),
    (68701, 69518, "BW"),
    (70001, 76709, "BW"),
    (76711, 76891, "RP"),
    (77601, 79879, "BW"),
    (80001, 87789, "BY"),
    (88001, 88130, "BW"),
    (88131, 88179, "BY"),
    (88180, 89198, "BW"),
    (89201, 89449, "BY"),
    (89501, 89619, "BW"),
    (90001, 96489, "BY"),
    (96501, 96529, "TH"),
    (97001, 97909, "BY"),
    (97911, 97999, "BW"),
    (98501, 99998, "TH"),
)
_STARTS = [start for start, _, _ in _RANGES]
_POSTAL_CODE = re.compile(r"^(?:D-?)?(\d{5})$")


def state_of_postal_code(postal_code: str) -> str | None:
    """The state of a German postal code (five digits, optionally `D-` prefixed), None when unknown."""
    match = _POSTAL_CODE.match(postal_code.strip().upper())
    if match is None:
        return None
    code = int(match.group(1))
    index = bisect.bisect_right(_STARTS, code) - 1
    if index < 0:
        return None
    _, end, state = _RANGES[index]
    return state if code <= end else None


def normalise_state(value: str) -> str | None:
    """`BY`, `DE-BY` or a state's name -> `BY`; None for anything else."""
    text = value.strip()
    code = text.upper().removeprefix("DE-")
    if code in STATES:
        return code
    return STATE_NAMES.get(text.lower())


def customer_state(state: Any, postal_address: Mapping[str, Any] | None) -> str | None:
    """The explicit state if it names one, else the state of a German postal address, else None."""
    if isinstance(state, str) and (explicit := normalise_state(state)) is not None:
        return explicit
    if not postal_address:
        return None
    country = str(postal_address.get("country") or "").strip().lower()
    postal_code = postal_address.get("postal_code")
    if country not in GERMANY or not isinstance(postal_code, str):
        return None
    return state_of_postal_code(postal_code)
