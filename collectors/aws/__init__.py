"""Built-in AWS collectors (boto3): encryption, identities and MFA, backups, logging, retention.

One module per collector, named after its key; shared helpers live in ``_common.py``
(params, regions, paging, concurrency, error handling), ``_controls.py`` (framework
mappings) and ``_policy.py`` (the least-privilege IAM policy of every AWS collector).
"""
