"""The management console: inventory, validation, migration orchestrator, REST API."""
