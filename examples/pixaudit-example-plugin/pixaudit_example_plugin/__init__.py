"""An example external pixaudit collector package.

pixaudit loads :class:`~pixaudit_example_plugin.backup_jobs.ExampleBackupJobsCollector`
through the ``pixaudit.collectors`` entry point declared in ``pyproject.toml``; importing this
package alone registers nothing.
"""

from __future__ import annotations

__version__ = "0.1.0"
