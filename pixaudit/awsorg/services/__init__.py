"""Writes of the AWS integration app: ``config`` (create, update, test) and ``runs`` (fan-out)."""
