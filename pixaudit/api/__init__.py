"""The REST API (``/api/v1/``): scoped hashed tokens, rate limits, problem details, push."""
