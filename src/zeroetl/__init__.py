"""zeroetl: self-hosted zero-ETL integration from MySQL/MariaDB into an analytical warehouse."""

__version__ = "0.1.0"
