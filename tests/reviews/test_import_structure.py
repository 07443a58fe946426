"""The reviews app has no import circle (module-level or inside functions).

``services/campaigns.py`` and ``services/mappings.py`` once imported each other (one of the
imports hidden inside a function); the names they share now live a layer down, in
``pixaudit/reviews/assertions.py``.
"""

from __future__ import annotations

from tests.import_graph import find_cycle, import_graph


def test_the_cycle_finder_finds_a_lazy_import_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_reviews_modules_import_no_circle():
    graph = import_graph("reviews")
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])
    assert "pixaudit.reviews.assertions" in graph["pixaudit.reviews.services.mappings"]
