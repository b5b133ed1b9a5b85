"""Who holds which privilege: the grant rules the policy (policy.py) consults.

A user holds a privilege on an object when a grant names the object (or a wider one: USAGE on a
database covers its schemas, ALL TABLES IN SCHEMA covers the schema's tables, including tables
replicated later) and the grantee is the user, a group the user belongs to, or PUBLIC.
Superusers (`admin` and users created with CREATEUSER) hold every privilege. Ownership of the
workspace's objects is decided by the policy, from dev's bookkeeping.

Reading a relation takes USAGE on its schema and SELECT on it, as on Redshift and PostgreSQL.
"""

from __future__ import annotations

from .users_store import PUBLIC, Snapshot, UserStore

# The privilege a workspace statement needs on its object (policy.workspace); None: owner only.
STATEMENT_PRIVILEGE: dict[str, str | None] = {
    "INSERT": "INSERT",
    "COPY": "INSERT",
    "UPDATE": "UPDATE",
    "DELETE": "DELETE",
    "TRUNCATE": "DELETE",
    "MERGE": None,  # needs INSERT, UPDATE and DELETE: checked as a set
    "CREATE SCHEMA": "CREATE",
}


MAX_DECISIONS = 1 << 16  # kept per snapshot: bounded memory


class Access:
    """The grant rules over the user store's current snapshot.

    A decision (`holds`) is kept with the snapshot it was made on: every change to users,
    groups or grants replaces the store's snapshot object, so a decision is never served past
    a GRANT or REVOKE (the next statement is ruled on against the new snapshot), while a
    repeated statement costs a dictionary look-up instead of a scan of every grant."""

    def __init__(self, store: UserStore) -> None:
        self.store = store
        self._decided: tuple[Snapshot | None, dict[tuple[str, ...], bool]] = (None, {})

    @property
    def _snap(self) -> Snapshot:
        return self.store.snapshot

    def is_superuser(self, user: str) -> bool:
        u = self._snap.users.get(user)
        return bool(u and u.superuser)

    def exists(self, user: str) -> bool:
        return user in self._snap.users

    def _grantees(self, snap: Snapshot, user: str) -> set[tuple[str, str]]:
        out = {("user", user), (PUBLIC, "")}
        out.update(("group", g) for g in snap.groups_of(user))
        return out

    def holds(self, user: str, privilege: str, db: str, schema: str = "", name: str = "") -> bool:
        """Whether `user` holds `privilege` on the database `db`, its schema `db.schema`, or its
        relation `db.schema.name` (by the object itself or a wider grant)."""
        snap = self._snap
        snap_of, decided = self._decided
        if snap_of is not snap:  # a change since: decide again (the class doc)
            decided = {}
            self._decided = (snap, decided)
        key = (user, privilege, db, schema, name)
        found = decided.get(key)
        if found is None:
            found = self._holds(snap, *key)
            if len(decided) < MAX_DECISIONS:
                decided[key] = found
        return found

    def _holds(
        self, snap: Snapshot, user: str, privilege: str, db: str, schema: str, name: str
    ) -> bool:
        u = snap.users.get(user)
        if u is None:
            return False
        if u.superuser:
            return True
        if name:
            objects = {("table", schema, name), ("tables", schema, "")}
        elif schema:
            objects = {("schema", schema, "")}
            if privilege == "USAGE":
                objects.add(("database", "", ""))
        else:
            objects = {("database", "", "")}
        who = self._grantees(snap, user)
        return any(
            g.privilege == privilege
            and g.db == db
            and (g.kind, g.schema, g.name) in objects
            and (g.grantee_kind, g.grantee) in who
            for g in snap.grants
        )

    def can_read(self, user: str, db: str, schema: str, name: str) -> str | None:
        """None when `user` may read `db.schema.name`; else the privilege that is missing."""
        if not self.holds(user, "USAGE", db, schema):
            return "USAGE"
        if not self.holds(user, "SELECT", db, schema, name):
            return "SELECT"
        return None
