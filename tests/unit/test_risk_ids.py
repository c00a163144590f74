"""`uuid5_text` is the standard library's UUID version 5, as text."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from winback_risk.service_layer.ids import uuid5_text


@given(st.uuids(), st.text(st.characters(blacklist_categories=("Cs",))))
def test_same_id_as_the_standard_library(namespace: uuid.UUID, name: str) -> None:
    assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))


def test_a_known_id() -> None:
    assert uuid5_text(uuid.NAMESPACE_DNS, "python.org") == "886313e1-3b8a-5372-9b90-0c9aee199e5d"
