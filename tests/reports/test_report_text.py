"""Collector-written text in pages and PDFs (issue 12, new-user defects): Markdown code spans
render as code, never as literal backticks nor as HTML; threshold values print without
Python spellings (``None``, ``True``)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.urls import reverse
from pypdf import PdfReader

from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
)
from pixaudit.lib.text import inline_code_html, plain_text, value_text
from pixaudit.reports.services import report_pdf_bytes, report_render_now, report_scope_resolve


def test_inline_code_is_escaped_then_wrapped():
    html = inline_code_html(
        "Run `aws s3api put-bucket-encryption --bucket <b>NAME</b>` then <script>x()</script>"
        " and ``a `tick` inside`` & `one more`."
    )
    assert html == (
        "Run <code>aws s3api put-bucket-encryption --bucket &lt;b&gt;NAME&lt;/b&gt;</code> "
        "then &lt;script&gt;x()&lt;/script&gt; and <code>a `tick` inside</code> &amp; "
        "<code>one more</code>."
    )
    assert inline_code_html("a lone ` stays") == "a lone ` stays"
    assert inline_code_html(None) == ""
    assert plain_text("Enable it: `aws guardduty create-detector`.") == (
        "Enable it: aws guardduty create-detector."
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "not set"), (True, "yes"), (False, "no"), (7, "7"), (10.0, "10"), (0.5, "0.5"),
     ([], "none"), (["a", "b"], "a, b"), ({"x": None}, "x: not set"), ("eu-*", "eu-*")],
)  # fmt: skip
def test_value_text(value, text):
    assert value_text(value) == text


@pytest.fixture
def s3_sandbox(monkeypatch) -> Iterator[str]:
    """The demo's moto sandbox (127.0.0.1) with compliant and failing buckets."""
    from pixaudit.demo.aws_sandbox import seed_sandbox, start_moto_server

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    url, stop = start_moto_server()
    try:
        seed_sandbox(url, n=2)
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        yield url
    finally:
        stop()


@pytest.fixture
def s3_collected(catalogs, s3_sandbox):
    from pixaudit.demo.aws_sandbox import SANDBOX_PARAMS

    connection = connection_create(
        name="Sandbox S3", collector_key="aws_s3_buckets", params=dict(SANDBOX_PARAMS)
    )
    run = collection_run_execute(
        run_id=collection_run_create(connection=connection, trigger="manual").pk
    )
    assert run.status == "succeeded", run.error_message
    return run.evidence.get()


def test_pdf_prints_code_spans_and_thresholds_as_text(s3_collected):
    report = report_render_now(scope=report_scope_resolve(framework_key="soc2-2017"))
    assert report.status == "succeeded", report.error_message
    reader = PdfReader(io.BytesIO(report_pdf_bytes(report=report)))
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    flat = " ".join(text.split())
    assert "aws s3api put-bucket-encryption" in flat  # the remediation is there ...
    assert "`" not in text  # ... without Markdown
    assert "None" not in text and "True" not in text and "False" not in text
    assert "require_kms = no" in flat
    assert "tag_key = not set" in flat  # aws_s3_buckets.lifecycle_expiration, on C1.2


def test_control_page_shows_remediation_as_code(s3_collected, manager_client):
    page = manager_client.get(
        reverse("dashboard:control_detail", args=["soc2-2017", "CC6.1"])
    ).content.decode()
    assert "<code>aws s3api put-bucket-encryption --bucket NAME" in page
    assert "`" not in page
