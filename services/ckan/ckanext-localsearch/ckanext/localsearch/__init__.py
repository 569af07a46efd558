"""ckanext-localsearch: a PostgreSQL-backed stand-in for CKAN's Solr index (local portal)."""
