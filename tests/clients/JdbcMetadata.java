// Drives pgJDBC's DatabaseMetaData the way DBeaver, Tableau and Metabase do, against the SQL
// endpoint, and prints every answer as one JSON object for tests/clients/test_pgjdbc.py.
// Usage: java -cp <postgresql.jar>:<dir> JdbcMetadata <jdbc-url> <user> <password> <schema> <table>
// Each call is recorded as {"rows": [...]} or {"error": "SQLSTATE: message"}: one failing call
// does not hide the others.
import java.sql.*;
import java.util.*;

public class JdbcMetadata {
    interface Call { ResultSet run(DatabaseMetaData md) throws SQLException; }

    public static void main(String[] args) throws Exception {
        String url = args[0], user = args[1], password = args[2], schema = args[3], table = args[4];
        StringBuilder out = new StringBuilder("{");
        try (Connection con = DriverManager.getConnection(url, user, password)) {
            DatabaseMetaData md = con.getMetaData();
            Map<String, Call> calls = new LinkedHashMap<>();
            calls.put("catalogs", m -> m.getCatalogs());
            calls.put("schemas", m -> m.getSchemas());
            calls.put("tables", m -> m.getTables(null, schema, "%", new String[] {"TABLE", "VIEW"}));
            calls.put("columns", m -> m.getColumns(null, schema, table, "%"));
            calls.put("primary_keys", m -> m.getPrimaryKeys(null, schema, table));
            calls.put("imported_keys", m -> m.getImportedKeys(null, schema, table));
            calls.put("exported_keys", m -> m.getExportedKeys(null, schema, table));
            calls.put("index_info", m -> m.getIndexInfo(null, schema, table, false, true));
            calls.put("type_info", m -> m.getTypeInfo());
            calls.put("table_types", m -> m.getTableTypes());
            calls.put("functions", m -> m.getFunctions(null, schema, "%"));
            calls.put("procedures", m -> m.getProcedures(null, schema, "%"));
            calls.put("table_privileges", m -> m.getTablePrivileges(null, schema, table));
            calls.put("best_row_identifier", m -> m.getBestRowIdentifier(null, schema, table, DatabaseMetaData.bestRowSession, true));
            calls.put("version_columns", m -> m.getVersionColumns(null, schema, table));
            calls.put("udts", m -> m.getUDTs(null, schema, "%", null));
            boolean first = true;
            for (Map.Entry<String, Call> e : calls.entrySet()) {
                if (!first) out.append(",");
                first = false;
                out.append(quote(e.getKey())).append(":");
                try (ResultSet rs = e.getValue().run(md)) {
                    out.append("{\"rows\":").append(rows(rs)).append("}");
                } catch (SQLException ex) {
                    out.append("{\"error\":").append(quote(ex.getSQLState() + ": " + ex.getMessage())).append("}");
                }
            }
            out.append(",\"product\":").append(quote(md.getDatabaseProductName() + " " + md.getDatabaseProductVersion()));
            // a query with parameters, as a BI tool's filter sends it (server-side prepared)
            out.append(",\"query\":");
            String sql = "select * from " + schema + "." + table + " where 1 = ? order by 1, 2";
            try (PreparedStatement ps = con.prepareStatement(sql)) {
                ps.setInt(1, 1);
                try (ResultSet rs = ps.executeQuery()) {
                    out.append("{\"rows\":").append(rows(rs)).append("}");
                }
            } catch (SQLException ex) {
                out.append("{\"error\":").append(quote(ex.getSQLState() + ": " + ex.getMessage())).append("}");
            }
        }
        out.append("}");
        System.out.println(out);
    }

    static String rows(ResultSet rs) throws SQLException {
        ResultSetMetaData meta = rs.getMetaData();
        StringBuilder b = new StringBuilder("[");
        boolean firstRow = true;
        while (rs.next()) {
            if (!firstRow) b.append(",");
            firstRow = false;
            b.append("{");
            for (int i = 1; i <= meta.getColumnCount(); i++) {
                if (i > 1) b.append(",");
                Object v = rs.getObject(i);
                b.append(quote(meta.getColumnLabel(i).toLowerCase())).append(":");
                b.append(v == null ? "null" : quote(v.toString()));
            }
            b.append("}");
        }
        return b.append("]").toString();
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append("\"").toString();
    }
}
