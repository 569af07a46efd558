"""The ground every stage stands on: settings, the province profile, the warehouse connection
and the platform's errors. It imports none of its users (ingestion, transform, opendata,
dashboards, the command line, the DAGs, the services)."""
