"""SQL layer of the warehouse endpoint: sessions, pg_catalog emulation, Redshift dialect.

Nothing is imported here: the service's storage code imports a few small modules of this package
(workspace_catalog, workspace_store, mviews), and `zeroetl replicate` must not pay for sqlglot
and the whole SQL layer at start-up (~1.7 s of CPU measured). Import `session`, `errors`, ...
directly.
"""
