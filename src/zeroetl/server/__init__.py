"""The zeroetl service: HTTP API, workers, SQL endpoint."""
