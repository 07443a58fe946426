"""Posture and the exceptions register import each other in one direction only.

``posture.selectors`` once imported ``exceptions.selectors.accepted_failures`` inside a
function because ``exceptions.selectors`` imports ``posture.selectors`` (the assertion
catalog): a cycle, only hidden. The shared read now lives a layer down, in
``pixaudit/exceptions/acceptances.py`` (register models only). Imports inside functions
count (a deferred import is still a cycle).
"""

from __future__ import annotations

from tests.import_graph import find_cycle, import_graph


def test_posture_and_exceptions_modules_import_no_circle() -> None:
    graph = import_graph("posture", "exceptions")
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])
    assert "pixaudit.exceptions.selectors" not in graph["pixaudit.posture.selectors"]
    assert "pixaudit.exceptions.acceptances" in graph["pixaudit.posture.selectors"]
    assert graph["pixaudit.exceptions.acceptances"] == {"pixaudit.exceptions.models"}


def test_the_shared_read_is_the_same_function_everywhere() -> None:
    from pixaudit.awsorg import selectors as awsorg_selectors
    from pixaudit.exceptions import acceptances
    from pixaudit.exceptions import selectors as exceptions_selectors
    from pixaudit.posture import selectors as posture_selectors
    from pixaudit.reports import selectors_aws as report_selectors

    shared = acceptances.accepted_failures
    assert exceptions_selectors.accepted_failures is shared
    assert posture_selectors.accepted_failures is shared
    assert report_selectors.accepted_failures is shared
    assert awsorg_selectors.accepted_failures is shared
