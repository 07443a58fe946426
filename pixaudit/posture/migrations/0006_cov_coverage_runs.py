from django.db import migrations, models
from django.db.models import F


def until_is_day(apps, schema_editor):
    """Existing rows are single days (the rollup is derived: coverage_rebuild merges runs)."""
    apps.get_model("posture", "CoverageDay").objects.update(until=F("day"))


class Migration(migrations.Migration):
    dependencies = [
        ("posture", "0005_cov_coverage_stale_on"),
    ]

    operations = [
        migrations.AddField(
            model_name="coverageday",
            name="until",
            field=models.DateField(null=True),
        ),
        migrations.RunPython(until_is_day, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="coverageday",
            name="until",
            field=models.DateField(),
        ),
    ]
