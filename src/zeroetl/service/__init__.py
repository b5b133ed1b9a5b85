"""The zeroetl service layer: lifecycle, workers, validation, monitoring (what runs the product)."""
