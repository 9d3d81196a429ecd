"""Stream apps: SQL over a tenant's readings, parsed with sqlglot and compiled onto the engine's steps.

`plan(sql)` checks and compiles the SQL (a `SqlError` names what is wrong and where); `app_job(spec)`
builds the engine `Job` that runs it.
"""

from iotstream.processing.apps.dialect import SqlError
from iotstream.processing.apps.job import APPS_PREFIX, AppSpec, app_job
from iotstream.processing.apps.plan import Plan, plan

__all__ = ["APPS_PREFIX", "AppSpec", "Plan", "SqlError", "app_job", "plan"]
