"""Users, groups and grants on a real DuckDB hub with the workspace and a replicated database
(`aurora`, demodb.sales), the user store in a real SQLite catalog file: who may manage users,
what a new user reads (nothing replicated; dev.public as on Redshift), GRANT/REVOKE on
databases, schemas, tables and ALL TABLES IN SCHEMA, to users, groups and PUBLIC, CTE scoping,
workspace writes through grants, and the catalog views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.sql_backend import HubBackend
from tests.unit.test_workspace import make_backend, rows, tag

from zeroetl.server.sql.grants import Access
from zeroetl.server.sql.policy import Policy
from zeroetl.server.sql.session import SqlError, SqlSession
from zeroetl.server.sql.users_store import UserStore

PW = "Secret123x"


class Hub:
    def __init__(self, tmp: Path) -> None:
        self.backend: HubBackend = make_backend(tmp)
        self.store = UserStore(tmp)
        self.policy = Policy(Access(self.store))

    def session(self, user: str = "admin", database: str = "dev") -> SqlSession:
        return SqlSession(self.backend, database=database, user=user, policy=self.policy)


@pytest.fixture
def hub(tmp_path: Path) -> Hub:
    return Hub(tmp_path)


def refused(s: SqlSession, sql: str, state: str = "42501") -> str:
    with pytest.raises(SqlError) as e:
        rows(s, sql)
    assert e.value.sqlstate == state, e.value.message
    return e.value.message


def test_new_user_reads_nothing_replicated_until_granted(hub: Hub) -> None:
    admin = hub.session()
    assert tag(admin, f"create user ann password '{PW}'") == "CREATE USER"
    ann = hub.session("ann")
    msg = refused(ann, "select count(*) from aurora.demodb.sales")
    assert msg == "permission denied for schema demodb"
    # system views and the catalog stay readable
    assert rows(ann, "select count(*) from svv_integration") == [(1,)]
    listing = "select count(*) from pg_class where relname = 'sales'"
    assert rows(hub.session("ann", "aurora"), listing) == [(1,)]  # listing is not reading
    tag(admin, "grant usage on schema aurora.demodb to ann")
    assert refused(ann, "select * from aurora.demodb.sales") == "permission denied for table sales"
    tag(admin, "grant select on aurora.demodb.sales to ann")
    assert rows(ann, "select count(*) from aurora.demodb.sales") == [(10,)]
    # the same table by its 2-part name from its own database, any spelling
    ann_db = hub.session("ann", "aurora")
    assert rows(ann_db, "select count(*) from demodb.SALES") == [(10,)]
    tag(admin, "revoke select on table aurora.demodb.sales from ann")
    refused(ann, "select count(*) from aurora.demodb.sales")


def test_all_tables_in_schema_groups_and_public(hub: Hub) -> None:
    admin = hub.session()
    tag(admin, f"create user bob password '{PW}'")
    tag(admin, f"create user cid password '{PW}'")
    tag(admin, "create group analysts with user bob")
    admin_aurora = hub.session("admin", "aurora")
    tag(admin_aurora, "grant usage on schema demodb to group analysts")
    tag(admin_aurora, "grant select on all tables in schema demodb to group analysts")
    bob, cid = hub.session("bob"), hub.session("cid")
    assert rows(bob, "select count(*) from aurora.demodb.sales") == [(10,)]
    refused(cid, "select count(*) from aurora.demodb.sales")
    tag(admin, "alter group analysts add user cid")
    assert rows(cid, "select count(*) from aurora.demodb.sales") == [(10,)]
    tag(admin, "alter group analysts drop user cid")
    refused(cid, "select count(*) from aurora.demodb.sales")
    # PUBLIC: every user, USAGE on the database covers its schemas
    tag(admin, "grant usage on database aurora to public")
    tag(admin, "grant select on aurora.demodb.sales to public")
    assert rows(cid, "select count(*) from aurora.demodb.sales") == [(10,)]
    tag(admin, "revoke select on all tables in schema aurora.demodb from public")
    refused(cid, "select count(*) from aurora.demodb.sales")
    assert rows(bob, "select count(*) from aurora.demodb.sales") == [(10,)]


def test_ctes_views_and_subqueries_cannot_hide_a_table(hub: Hub) -> None:
    admin = hub.session()
    tag(admin, f"create user eve password '{PW}'")
    eve = hub.session("eve", "aurora")
    tag(eve, "set search_path to demodb")
    tag(admin, "grant usage on schema aurora.demodb to eve")
    # a CTE named like the table is not the table ...
    assert rows(eve, "with sales as (select 1 as a) select * from sales") == [(1,)]
    # ... but the table beside it, or inside the CTE's own body, still is
    refused(eve, "select count(*) from sales union all (with sales as (select 1) select 1 from"
            " sales)")  # fmt: skip
    refused(eve, "with sales as (select * from demodb.sales) select count(*) from sales")
    refused(eve, "with sales as (select * from sales) select count(*) from sales")
    refused(eve, "select count(*) from sales")
    refused(eve, "with s as (select 1) select (select count(*) from demodb.sales) from s")
    refused(eve, "select * from (select * from aurora.demodb.sales) x")
    refused(eve, "explain select * from aurora.demodb.sales")
    # a view in dev over a table its creator cannot read cannot be made
    refused(eve, "create view dev.public.leak as select * from aurora.demodb.sales")


def test_workspace_defaults_and_grants(hub: Hub) -> None:
    admin = hub.session()
    tag(admin, f"create user ann password '{PW}'")
    tag(admin, f"create user bob password '{PW}'")
    ann, bob = hub.session("ann"), hub.session("bob")
    # dev.public: usable and creatable by every user (Redshift's PUBLIC defaults)
    tag(ann, "create table notes (id int, body varchar)")
    tag(ann, "insert into notes values (1, 'mine')")
    assert rows(ann, "select body from notes") == [("mine",)]
    # another user's table: nothing until granted
    assert refused(bob, "select * from dev.public.notes") == "permission denied for table notes"
    refused(bob, "insert into dev.public.notes values (2, 'x')")
    refused(bob, "create schema bobs")
    tag(ann, "grant select, insert on notes to bob")  # the owner grants
    assert rows(bob, "select count(*) from dev.public.notes") == [(1,)]
    tag(bob, "insert into dev.public.notes values (2, 'from bob')")
    refused(bob, "delete from dev.public.notes")
    refused(bob, "drop table dev.public.notes")
    refused(bob, "create or replace view dev.public.notes as select 1")
    refused(bob, "grant select on dev.public.notes to bob")  # not the owner
    tag(admin, "grant create on database dev to bob")
    assert tag(bob, "create schema bobs") == "CREATE SCHEMA"
    # a dropped table's grants go with it: a new one of the same name starts with none
    tag(ann, "drop table notes")
    tag(ann, "create table notes (secret varchar)")
    refused(bob, "select * from dev.public.notes")
    # REVOKE a default
    tag(admin, "revoke create on schema dev.public from public")
    refused(bob, "create table dev.public.t2 (a int)")


def test_user_management_rights_and_errors(hub: Hub) -> None:
    admin = hub.session()
    tag(admin, f"create user ann password '{PW}' createdb connection limit 2")
    ann = hub.session("ann")
    assert refused(ann, f"create user x password '{PW}'") == "permission denied to create users"
    refused(ann, "drop user admin")
    refused(ann, "create group g")
    # own password: allowed; other options: not
    assert tag(ann, "alter user ann password 'Another1pass'") == "ALTER USER"
    refused(ann, "alter user ann createuser")
    refused(admin, f"create user ann password '{PW}'", "42710")
    refused(admin, "drop user nobody", "42704")
    assert tag(admin, "drop user if exists nobody") == "DROP USER"
    refused(admin, "alter user admin password 'Another1pass'")
    refused(admin, "create user bad password 'short'", "22023")
    refused(admin, "grant select on aurora.demodb.sales to nobody", "42704")
    refused(admin, "grant select on aurora.demodb.nosuch to ann", "42P01")
    refused(admin, "grant usage on schema aurora.nosuch to ann", "3F000")
    refused(admin, "grant select on schema aurora.demodb to ann", "0LP01")
    refused(admin, "create role r", "0A000")
    refused(admin, 'create user "a\x01b" password disable', "42602")
    refused(admin, "create user public password disable", "42939")
    # a superuser by CREATEUSER manages users too
    tag(admin, f"create user boss password '{PW}' createuser")
    boss = hub.session("boss")
    assert tag(boss, f"create user dan password '{PW}'") == "CREATE USER"
    assert rows(boss, "select count(*) from aurora.demodb.sales") == [(10,)]
    # a user owning objects in dev is not dropped
    tag(ann, "create table mine (a int)")
    assert "owns objects" in refused(admin, "drop user ann", "2BP01")
    tag(ann, "drop table mine")
    assert tag(admin, "alter user ann rename to anna") == "ALTER USER"
    assert tag(admin, "drop user anna, dan") == "DROP USER"
    assert sorted(hub.store.snapshot.users) == ["admin", "boss"]


def test_catalog_views(hub: Hub) -> None:
    admin = hub.session()
    tag(admin, f"create user ann password '{PW}' valid until '2030-01-01' connection limit 3")
    tag(admin, f"create user bob password '{PW}' createdb")
    tag(admin, "create group g with user ann, bob")
    tag(admin, "grant select on all tables in schema aurora.demodb to group g")
    tag(admin, "grant usage on schema aurora.demodb to ann")
    got = rows(admin, "select usename, usesuper, usecreatedb, passwd from pg_user order by 1")
    assert got == [("admin", True, True, "********"), ("ann", False, False, "********"),
                   ("bob", False, True, "********")]  # fmt: skip
    roles = rows(admin, "select rolname, rolcanlogin, rolconnlimit, rolvaliduntil is not null"
                 " from pg_roles order by 1")  # fmt: skip
    assert roles == [("admin", True, -1, False), ("ann", True, 3, True),
                     ("bob", True, -1, False), ("g", False, -1, False)]  # fmt: skip
    assert rows(admin, "select groname, len(grolist) from pg_group") == [("g", 2)]
    info = rows(admin, "select user_name, superuser, connection_limit from svv_user_info"
                " order by user_id")  # fmt: skip
    assert info == [("admin", True, "UNLIMITED"), ("ann", False, "3"), ("bob", False, "UNLIMITED")]
    # a regular user sees their own row only
    assert rows(hub.session("ann"), "select user_name from svv_user_info") == [("ann",)]
    rel = rows(admin, "select namespace_name, relation_name, privilege_type, identity_name,"
               " identity_type from svv_relation_privileges")  # fmt: skip
    assert rel == [("demodb", "*", "SELECT", "g", "group")]
    sch = rows(admin, "select namespace_name, privilege_type, identity_name from"
               " svv_schema_privileges order by 1, 2, 3")  # fmt: skip
    assert ("demodb", "USAGE", "ann") in sch and ("public", "CREATE", "public") in sch
    # psql 15's \du
    du = rows(admin, _DU)
    assert [r[0] for r in du] == ["admin", "ann", "bob", "g"]
    assert du[1][-3] == ["g"]
    # no verifier anywhere a session can read
    for sql in ("select * from pg_user", "select * from pg_roles", "select * from svv_user_info"):
        text = repr(rows(admin, sql))
        assert "SCRAM" not in text and "md5" not in text


_DU = """SELECT r.rolname, r.rolsuper, r.rolinherit,
  r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
  r.rolconnlimit, r.rolvaliduntil,
  ARRAY(SELECT b.rolname
        FROM pg_catalog.pg_auth_members m
        JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid)
        WHERE m.member = r.oid) as memberof
, r.rolreplication
, r.rolbypassrls
FROM pg_catalog.pg_roles r
WHERE r.rolname !~ '^pg_'
ORDER BY 1;"""


def test_store_survives_reopening(tmp_path: Path) -> None:
    hub = Hub(tmp_path)
    admin = hub.session()
    tag(admin, f"create user ann password '{PW}'")
    tag(admin, "create group g with user ann")
    tag(admin, "grant usage on schema aurora.demodb to group g")
    tag(admin, "revoke create on schema dev.public from public")
    hub.store.close()
    again = UserStore(tmp_path)
    snap = again.snapshot
    assert set(snap.users) == {"admin", "ann"} and snap.members == {"g": frozenset({"ann"})}
    privileges = {(g.privilege, g.schema, g.grantee) for g in snap.grants}
    assert privileges == {("USAGE", "demodb", "g"), ("USAGE", "public", "")}
    # verifiers, never the password
    raw: Any = (tmp_path / "catalog.sqlite3").read_bytes()
    assert PW.encode() not in raw
    ann = snap.users["ann"]
    assert ann.scram and ann.scram.startswith("SCRAM-SHA-256$4096:") and ann.md5


def test_session_record_of_its_statement_masks_passwords(hub: Hub) -> None:
    admin = hub.session()
    tag(admin, f"create user ann password '{PW}'")
    assert admin.query == "create user ann password '********'"
    with pytest.raises(SqlError) as e:
        rows(admin, f"alter user ann password '{PW}' bogus")
    assert PW not in str(e.value) and PW not in admin.query
    tag(admin, "select 'password' as x")
    assert admin.query == "select 'password' as x"
    # a user changing their own password: the same
    ann = hub.session("ann")
    tag(ann, "alter user ann password 'Another1pass'")
    assert ann.query == "alter user ann password '********'"


def test_views_read_with_their_owners_rights_checked_at_query_time(hub: Hub) -> None:
    admin = hub.session()
    for u in ("ann", "bob"):
        tag(admin, f"create user {u} password '{PW}'")
    tag(admin, "grant usage on schema aurora.demodb to ann")
    tag(admin, "grant select on aurora.demodb.sales to ann")
    ann, bob = hub.session("ann"), hub.session("bob")
    tag(ann, "create table mine as select 1 as k")
    tag(ann, "create view v as select s.salesid from aurora.demodb.sales s, mine")
    tag(ann, "create view vv as select * from v")  # nested
    tag(ann, "create materialized view mv as select count(*) as n from aurora.demodb.sales")
    tag(ann, "grant select on v, vv, mv to bob")
    # bob reads through ann's views without any grant on sales
    assert rows(bob, "select count(*) from dev.public.vv") == [(10,)]
    assert rows(bob, "select n from dev.public.mv") == [(10,)]
    refused(bob, "select count(*) from aurora.demodb.sales")
    # once ann may not read sales, nobody reads it through her views
    tag(admin, "revoke select on aurora.demodb.sales from ann")
    for who in (ann, bob):
        for view in ("v", "vv", "mv"):
            msg = refused(who, f"select * from dev.public.{view}")
            assert "its owner ann may not read sales" in msg
    assert rows(ann, "select k from mine") == [(1,)]
