"""Change management checks that join evidence of several collectors (issue 19)."""
