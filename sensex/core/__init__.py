"""Plumbing every stage may use: settings from the environment, the project's errors, caches,
JSON-lines logs, redaction of secrets, process ownership and memory limits, and the one wording
of the advice to update the data. Imports nothing else of the project."""
