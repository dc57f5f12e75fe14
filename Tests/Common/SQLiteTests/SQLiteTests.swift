import Glibc
import SQLite
import Testing
import TestSupport

@Suite struct SQLiteTests {
    private func database() throws -> (TemporaryDirectory, SQLiteDatabase) {
        let folder = try TemporaryDirectory(prefix: "sqlite-test")
        let database = try SQLiteDatabase(path: folder.path + "/t.db")
        try database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, b BLOB NOT NULL)")
        return (folder, database)
    }

    @Test func valuesGoInAndComeBackAsBound() throws {
        let (folder, db) = try database()
        defer { withExtendedLifetime(folder) {} }
        try db.statement("INSERT INTO t (id, n, b) VALUES (?, ?, ?)").run([.integer(1), .integer(-7), .blob([0, 1, 255])])
        try db.statement("INSERT INTO t (id, n, b) VALUES (?, ?, ?)").run([.integer(2), .null, .blob([])])
        let rows = try db.rows("SELECT id, n, b FROM t ORDER BY id") { row throws(SQLiteError) in
            (try row.int64(0), try row.optionalInt64(1), row.blob(2))
        }
        #expect(rows.map(\.0) == [1, 2])
        #expect(rows.map(\.1) == [-7, nil])
        // An empty blob stays an empty blob (NOT NULL holds), not NULL.
        #expect(rows.map(\.2) == [[0, 1, 255], []])
        #expect(try db.text("SELECT typeof(b) FROM t WHERE id = 2") == "blob")
    }

    @Test func aNullOrTextWhereAnIntegerBelongsIsAnErrorNotATrap() throws {
        let (folder, db) = try database()
        defer { withExtendedLifetime(folder) {} }
        try db.execute("INSERT INTO t VALUES (1, NULL, x''); INSERT INTO t VALUES (2, 'seven', x'')")
        for id in [1, 2] {
            #expect {
                _ = try db.row("SELECT n FROM t WHERE id = ?", [.integer(Int64(id))]) { row throws(SQLiteError) in try row.int64(0) }
            } throws: { error in
                (error as? SQLiteError)?.resultCode == SQLiteError.mismatch && "\(error)".contains("not an integer")
            }
        }
    }

    @Test func errorsCarrySQLitesCodeAndMessage() throws {
        let (folder, db) = try database()
        defer { withExtendedLifetime(folder) {} }
        try db.execute("INSERT INTO t VALUES (1, 1, x'')")
        #expect {
            try db.execute("INSERT INTO t VALUES (1, 2, x'')")
        } throws: { error in
            // SQLITE_CONSTRAINT_PRIMARYKEY (1555), primary code SQLITE_CONSTRAINT (19).
            guard let error = error as? SQLiteError else { return false }
            return error.code == 1555 && error.resultCode == 19 && error.message.contains("UNIQUE constraint failed: t.id")
        }
        #expect(throws: SQLiteError.self) { _ = try db.prepare("SELEC 1") }
    }

    @Test func aFailingTransactionLeavesNothingBehind() throws {
        let (folder, db) = try database()
        defer { withExtendedLifetime(folder) {} }
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try db.transaction {
                try db.execute("INSERT INTO t VALUES (1, 1, x'')")
                throw Stop()
            }
        }
        #expect(db.isAutocommit)
        #expect(try db.text("SELECT count(*) FROM t") == "0")
        try db.transaction { try db.execute("INSERT INTO t VALUES (1, 1, x'')") }
        #expect(try db.text("SELECT count(*) FROM t") == "1")
    }

    @Test func aFileThatIsNotADatabaseIsNamedAsSuch() throws {
        let folder = try TemporaryDirectory(prefix: "sqlite-test")
        let path = folder.path + "/junk.db"
        let junk = [UInt8](repeating: 0x5A, count: 8192)
        let file = try #require(fopen(path, "wb"))
        fwrite(junk, 1, junk.count, file)
        fclose(file)
        let db = try SQLiteDatabase(path: path)
        #expect {
            _ = try db.text("PRAGMA journal_mode = WAL")
        } throws: { error in
            (error as? SQLiteError)?.resultCode == SQLiteError.notADatabase && "\(error)".contains("not a database")
        }
    }

    @Test func aClosedDatabaseRefusesWork() throws {
        let (folder, db) = try database()
        defer { withExtendedLifetime(folder) {} }
        let statement = try db.statement("SELECT count(*) FROM t")
        db.close()
        #expect(throws: SQLiteError.self) { try db.execute("SELECT 1") }
        #expect(throws: SQLiteError.self) { _ = try statement.step() }
    }
}
