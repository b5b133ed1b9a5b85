"""Monitoring: the `_zeroetl` tables every reader (SQL views, API, metrics, console) derives from."""
