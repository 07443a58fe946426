"""Tree and search selectors."""

from __future__ import annotations

import pytest

from pixaudit.controls.selectors import control_search, framework_list, framework_tree

pytestmark = pytest.mark.django_db


def test_framework_tree_is_nested_in_order_with_one_query(iso, django_assert_num_queries):
    with django_assert_num_queries(1):
        tree = framework_tree(framework=iso)
        refs = [node.control.ref for node in tree]
        clause6 = tree[2]
        sub = [child.control.ref for child in clause6.children]
        deep = [child.control.ref for child in clause6.children[0].children]
        parent_ref = clause6.children[0].children[0].control.parent.ref
    assert refs == ["4", "5", "6", "7", "8", "9", "10", "A.5", "A.6", "A.7", "A.8"]
    assert sub == ["6.1", "6.2", "6.3"]
    assert deep == ["6.1.1", "6.1.2", "6.1.3"]
    assert parent_ref == "6.1"
    assert tree[7].control_count == 37 and clause6.control_count == 5


def test_framework_tree_pruned(soc2):
    tree = framework_tree(
        framework=soc2, only={c.pk for c in control_search(framework=soc2, q="incident")}
    )
    assert [(n.control.ref, [c.control.ref for c in n.children]) for n in tree] == [
        ("CC7", ["CC7.3", "CC7.4", "CC7.5"])
    ]


def test_control_search(soc2, iso):
    assert [c.ref for c in control_search(framework=soc2, q="vendor")] == ["CC9.2", "P6.4"]
    assert [c.ref for c in control_search(framework=soc2, q="cc6.1")] == ["CC6.1"]
    assert [c.ref for c in control_search(framework=soc2, q="vendor", group="P6")] == ["P6.4"]
    assert len(control_search(framework=soc2, group="CC6")) == 8
    assert len(control_search(framework=iso, group="6")) == 5  # 6.1.1-6.1.3, 6.2, 6.3
    assert len(control_search(framework=iso, group="A.8")) == 34
    assert list(control_search(framework=soc2, group="Z9")) == []
    assert [c.ref for c in control_search(framework=iso, q="cryptography")] == ["A.8.24"]


def test_framework_list_counts(catalogs, django_assert_num_queries):
    with django_assert_num_queries(1):
        counts = {f.key: (f.group_count, f.assessable_count) for f in framework_list()}
    assert counts == {"soc2-2017": (20, 61), "iso27001-2022": (15, 123)}
