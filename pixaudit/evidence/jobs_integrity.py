"""The periodic evidence-integrity job (registered in ``pixaudit/cron.py``): ids in (none
here), service calls, nothing else."""

from __future__ import annotations


def evidence_integrity_job() -> str:
    """Sign a checkpoint of the chain head if one is due; sweep abandoned partial files."""
    from pixaudit.evidence.services.checkpoints import chain_checkpoint_if_due
    from pixaudit.evidence.storage import artifact_partials_sweep

    checkpoint = chain_checkpoint_if_due()
    swept = artifact_partials_sweep()
    written = f"checkpoint seq={checkpoint.seq}" if checkpoint else "no checkpoint due"
    return f"{written}; {swept} partial file(s) removed"
