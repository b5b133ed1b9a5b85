"""The pg_catalog emulation's small tables (catalog.py): the right columns and no rows, or the rows
PostgreSQL always has (access methods, the default collation and tablespace, the settings drivers
read). Clients join them; none of them describes warehouse data.
"""

from __future__ import annotations


def stub_sql() -> list[str]:
    from .pgnames import OWNER, SCHEMA, SERVER_VERSION

    s = SCHEMA
    return [
        f"CREATE OR REPLACE VIEW {s}.pg_am AS SELECT * FROM (VALUES (2::BIGINT, 'heap', 't'),"
        " (403::BIGINT, 'btree', 'i')) AS zq_am(oid, amname, amtype)",
        f"CREATE OR REPLACE VIEW {s}.pg_inherits AS SELECT 0::BIGINT AS inhrelid, 0::BIGINT AS"
        " inhparent, 0 AS inhseqno, false AS inhdetachpending WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_description AS SELECT 0::BIGINT AS objoid, 0::BIGINT"
        " AS classoid, 0 AS objsubid, ''::VARCHAR AS description WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_attrdef AS SELECT 0::BIGINT AS oid, 0::BIGINT AS"
        " adrelid, 0::SMALLINT AS adnum, ''::VARCHAR AS adbin, ''::VARCHAR AS adsrc WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_collation AS SELECT 100::BIGINT AS oid, 'default' AS"
        " collname, 11::BIGINT AS collnamespace, 'd' AS collprovider",
        f"CREATE OR REPLACE VIEW {s}.pg_roles AS SELECT 100::BIGINT AS oid, '{OWNER}' AS rolname,"
        " true AS rolsuper, true AS rolinherit, false AS rolcreaterole, false AS rolcreatedb,"
        " true AS rolcanlogin, -1 AS rolconnlimit, NULL::VARCHAR[] AS rolconfig",
        f"CREATE OR REPLACE VIEW {s}.pg_user AS SELECT '{OWNER}' AS usename, 100::BIGINT AS"
        " usesysid, true AS usesuper",
        f"CREATE OR REPLACE VIEW {s}.pg_tablespace AS SELECT 1663::BIGINT AS oid, 'pg_default'"
        " AS spcname, 100::BIGINT AS spcowner",
        f"CREATE OR REPLACE VIEW {s}.pg_policy AS SELECT 0::BIGINT AS oid, '' AS polname,"
        " 0::BIGINT AS polrelid, 'r' AS polcmd, true AS polpermissive, [0::BIGINT] AS polroles,"
        " NULL::VARCHAR AS polqual, NULL::VARCHAR AS polwithcheck WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_statistic_ext AS SELECT 0::BIGINT AS oid, 0::BIGINT AS"
        " stxrelid, 0::BIGINT AS stxnamespace, '' AS stxname, ['d'] AS stxkind, -1 AS"
        " stxstattarget WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_publication AS SELECT 0::BIGINT AS oid, '' AS pubname,"
        " false AS puballtables WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_publication_namespace AS SELECT 0::BIGINT AS pnpubid,"
        " 0::BIGINT AS pnnspid WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_publication_rel AS SELECT 0::BIGINT AS prpubid,"
        " 0::BIGINT AS prrelid, NULL::VARCHAR AS prqual, NULL::SMALLINT[] AS prattrs WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_sequence AS SELECT 0::BIGINT AS seqrelid, 0::BIGINT AS"
        " seqstart, 0::BIGINT AS seqincrement, 0::BIGINT AS seqmin, 0::BIGINT AS seqmax,"
        " 0::BIGINT AS seqcache, false AS seqcycle WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_opclass AS SELECT 0::BIGINT AS oid, '' AS opcname,"
        " true AS opcdefault WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_proc AS SELECT 0::BIGINT AS oid, '' AS proname,"
        " 0::BIGINT AS pronamespace, 'f' AS prokind, 0::BIGINT AS prorettype, ''::VARCHAR AS"
        " prosrc, false AS proretset, 0::BIGINT AS prolang, [0::BIGINT] AS proargtypes,"
        " 'v' AS provolatile, 'u' AS proparallel, false AS prosecdef, 100::BIGINT AS proowner,"
        " NULL::VARCHAR[] AS proacl WHERE false",
        # what drivers read (pgJDBC's getImportedKeys needs max_index_keys)
        f"CREATE OR REPLACE VIEW {s}.pg_settings AS SELECT name, setting, unit, 'Preset Options'"
        " AS category, '' AS short_desc, 'internal' AS context, vartype, 'default' AS source,"
        " NULL::VARCHAR AS min_val, NULL::VARCHAR AS max_val, setting AS boot_val, setting AS"
        " reset_val FROM (VALUES ('max_index_keys', '32', NULL, 'integer'),"
        " ('max_identifier_length', '63', NULL, 'integer'), ('block_size', '8192', NULL,"
        f" 'integer'), ('server_version', '{SERVER_VERSION}', NULL, 'string'),"
        " ('server_version_num', '150000', NULL, 'integer'), ('server_encoding', 'UTF8', NULL,"
        " 'string'), ('integer_datetimes', 'on', NULL, 'bool'), ('standard_conforming_strings',"
        " 'on', NULL, 'bool'), ('max_connections', '100', NULL, 'integer'))"
        " AS zq_s(name, setting, unit, vartype)",
    ]
