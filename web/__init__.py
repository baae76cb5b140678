"""HR dashboard and REST API."""
