"""Current state keyed by connection, and run-failure rows.

``LatestResult`` was unique on (assertion, resource): a second connection reporting a resource
of the same name replaced the first one's status. It is now unique on (assertion, resource,
connection) for rows of a connection, and on (assertion, resource) for rows without one (two
partial unique indexes, which ``INSERT ... ON CONFLICT`` can target on PostgreSQL and SQLite).
``run`` marks a run-failure row (``evidence`` is then null). Existing rows satisfy both.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('evidence', '0006_connection_updated_by'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='latestresult',
            name='evidence_latest_unique',
        ),
        migrations.AddField(
            model_name='latestresult',
            name='run',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='evidence.collectionrun'),
        ),
        migrations.AlterField(
            model_name='latestresult',
            name='evidence',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='evidence.evidenceitem'),
        ),
        migrations.AddIndex(
            model_name='latestresult',
            index=models.Index(condition=models.Q(('run__isnull', False)), fields=['connection'], name='evidence_latest_failed_idx'),
        ),
        migrations.AddConstraint(
            model_name='latestresult',
            constraint=models.UniqueConstraint(condition=models.Q(('connection__isnull', False)), fields=('assertion_id', 'resource', 'connection'), name='evidence_latest_unique_conn'),
        ),
        migrations.AddConstraint(
            model_name='latestresult',
            constraint=models.UniqueConstraint(condition=models.Q(('connection__isnull', True)), fields=('assertion_id', 'resource'), name='evidence_latest_unique_noconn'),
        ),
        migrations.AddConstraint(
            model_name='latestresult',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('evidence__isnull', False), ('run__isnull', True)), models.Q(('evidence__isnull', True), ('run__isnull', False)), _connector='OR'), name='evidence_latest_evidence_xor_run'),
        ),
    ]
