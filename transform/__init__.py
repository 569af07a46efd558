"""The transformation stage: the dbt project (staging → intermediate → marts) run against the
warehouse, and the readers' serving copy refreshed after a green build."""
