"""PostgreSQL wire protocol v3 endpoint (port 5439) in front of the SQL layer.

The wire layer owns bytes, authentication, TLS, portals/cursors, type encoding and streaming; it
calls the SQL layer only through a `session_factory(database, user)` returning an object with
`execute`, `describe`, `split`, `cancel`, `close` and `in_transaction` (see docs/sql-endpoint.md).
"""

from zeroetl.server.pgwire.auth import ADMIN_USER, Authenticator, admin_password
from zeroetl.server.pgwire.server import DEFAULT_HOST, DEFAULT_PORT, PgServer

__all__ = [
    "ADMIN_USER",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "Authenticator",
    "PgServer",
    "admin_password",
]
