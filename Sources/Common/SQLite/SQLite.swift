internal import CSQLite

/// What SQLite (or this wrapper) refused: the extended result code and SQLite's message.
public struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The extended result code (`SQLITE_IOERR_WRITE`, …); ``resultCode`` is its primary part.
    public var code: Int32
    public var message: String

    public init(code: Int32, message: String) {
        self.code = code
        self.message = message
    }

    /// The primary result code (`SQLITE_IOERR` for `SQLITE_IOERR_WRITE`).
    public var resultCode: Int32 { code & 0xFF }

    public var description: String { "\(message) (SQLite code \(code))" }

    // The primary codes callers sort failures by.
    public static let corrupt = SQLITE_CORRUPT
    public static let notADatabase = SQLITE_NOTADB
    public static let full = SQLITE_FULL
    public static let ioError = SQLITE_IOERR
    public static let cannotOpen = SQLITE_CANTOPEN
    public static let readOnly = SQLITE_READONLY
    public static let busy = SQLITE_BUSY
    /// A value of the wrong type where this wrapper was asked for another (a NULL or text where an
    /// integer belongs).
    public static let mismatch = SQLITE_MISMATCH
}

/// A value to bind to a statement parameter.
public enum SQLiteValue: Sendable, Equatable {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// One connection to one database file. Not thread-safe: its owner serializes calls (the outbox
/// holds its lock around every store call). Statements it prepared with ``statement(_:)`` are
/// cached and finalized on ``close()``.
public final class SQLiteDatabase {
    public let path: String
    private var handle: OpaquePointer?
    private var cache: [String: SQLiteStatement] = [:]

    /// Opens (with `readOnly: false`, creating if needed) the file at `path`. SQLite reads the file
    /// lazily: a file that is not a database is refused by the first statement, not here.
    public init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        self.path = path
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw SQLiteError(code: rc, message: message)
        }
        sqlite3_extended_result_codes(db, 1)
        handle = db
    }

    deinit { close() }

    /// Finalizes the cached statements and closes the connection; later calls fail with SQLITE_MISUSE.
    public func close() {
        for statement in cache.values { statement.finalize() }
        cache = [:]
        if let handle { sqlite3_close_v2(handle) }
        handle = nil
    }

    private func open() throws(SQLiteError) -> OpaquePointer {
        guard let handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "the database \(path) is closed") }
        return handle
    }

    /// The connection's last error, for a result code `rc` it just returned.
    func error(_ rc: Int32) -> SQLiteError {
        guard let handle else { return SQLiteError(code: rc, message: String(cString: sqlite3_errstr(rc))) }
        return SQLiteError(code: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs one or more statements that return no rows worth reading.
    public func execute(_ sql: String) throws(SQLiteError) {
        let db = try open()
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    /// A new prepared statement (finalized when released).
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        let db = try open()
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc) }
        return SQLiteStatement(statement, database: self)
    }

    /// The cached prepared statement for `sql`, reset and with no bindings.
    public func statement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = cache[sql] {
            cached.reset()
            return cached
        }
        let statement = try prepare(sql)
        cache[sql] = statement
        return statement
    }

    /// Runs `sql` with `values` and returns each row through `read`, in order.
    public func rows<T>(_ sql: String, _ values: [SQLiteValue] = [],
                        _ read: (SQLiteRow) throws(SQLiteError) -> T) throws(SQLiteError) -> [T] {
        let statement = try self.statement(sql)
        try statement.bind(values)
        defer { statement.reset() }
        var result: [T] = []
        while let row = try statement.step() { result.append(try read(row)) }
        return result
    }

    /// The first row of `sql` through `read`, or nil when it returns none.
    public func row<T>(_ sql: String, _ values: [SQLiteValue] = [],
                       _ read: (SQLiteRow) throws(SQLiteError) -> T) throws(SQLiteError) -> T? {
        let statement = try self.statement(sql)
        try statement.bind(values)
        defer { statement.reset() }
        return try statement.step().map(read)
    }

    /// A pragma's (or any one-value query's) first column as text; nil for no row or NULL.
    public func text(_ sql: String) throws(SQLiteError) -> String? {
        try row(sql) { row in row.text(0) } ?? nil
    }

    /// True outside a transaction (SQLite's autocommit mode).
    /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    public var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }

    public var isAutocommit: Bool { handle.map { sqlite3_get_autocommit($0) != 0 } ?? true }

    /// Runs `body` in `BEGIN IMMEDIATE` … `COMMIT`, rolling back when `body` or the commit fails.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if !isAutocommit { try? execute("ROLLBACK") }
            throw error
        }
    }
}

/// A prepared statement. Parameters are bound by position (1-based, as `?` appear).
public final class SQLiteStatement {
    private var handle: OpaquePointer?
    private unowned let database: SQLiteDatabase

    init(_ handle: OpaquePointer, database: SQLiteDatabase) {
        self.handle = handle
        self.database = database
    }

    deinit { finalize() }

    func finalize() {
        sqlite3_finalize(handle)
        handle = nil
    }

    private func open() throws(SQLiteError) -> OpaquePointer {
        guard let handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "the statement is finalized (its database was closed)") }
        return handle
    }

    /// Resets the statement to run again and clears its bindings.
    public func reset() {
        guard let handle else { return }
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Binds `values` to parameters 1…n.
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        let statement = try open()
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .integer(let number): rc = sqlite3_bind_int64(statement, index, number)
            case .text(let text): rc = sqlite3_bind_text(statement, index, text, -1, transient)
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { buffer in
                    // A zero-length blob with a nil pointer would bind NULL; zeroblob keeps it a blob.
                    buffer.baseAddress.map { sqlite3_bind_blob(statement, index, $0, Int32(buffer.count), transient) }
                        ?? sqlite3_bind_zeroblob(statement, index, 0)
                }
            case .null: rc = sqlite3_bind_null(statement, index)
            }
            guard rc == SQLITE_OK else { throw database.error(rc) }
        }
    }

    /// The next row, or nil when the statement is done.
    public func step() throws(SQLiteError) -> SQLiteRow? {
        let statement = try open()
        switch sqlite3_step(statement) {
        case SQLITE_ROW: return SQLiteRow(statement: statement)
        case SQLITE_DONE: return nil
        case let rc:
            // sqlite3_reset returns the error with its extended code (step's own code is generic for v1 APIs).
            let error = database.error(rc)
            sqlite3_reset(statement)
            throw error
        }
    }

    /// Binds `values`, runs the statement to its end and resets it.
    public func run(_ values: [SQLiteValue] = []) throws(SQLiteError) {
        try bind(values)
        defer { reset() }
        while try step() != nil {}
    }
}

/// The current row of a statement, valid until the statement steps again or resets.
public struct SQLiteRow {
    fileprivate let statement: OpaquePointer

    public var columnCount: Int32 { sqlite3_column_count(statement) }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    /// An integer column. A NULL, text, blob or non-integral real is a type mismatch, not a trap:
    /// a hand-edited or damaged file must not stop the agent.
    public func int64(_ column: Int32) throws(SQLiteError) -> Int64 {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return sqlite3_column_int64(statement, column)
        case SQLITE_FLOAT:
            let value = sqlite3_column_double(statement, column)
            if let exact = Int64(exactly: value) { return exact }
        default:
            break
        }
        throw SQLiteError(code: SQLITE_MISMATCH, message: "column \(column) (\(name(column))) holds \(typeName(column)), not an integer")
    }

    /// An integer column that may be NULL.
    public func optionalInt64(_ column: Int32) throws(SQLiteError) -> Int64? {
        isNull(column) ? nil : try int64(column)
    }

    /// ``int64(_:)`` as an `Int`.
    public func int(_ column: Int32) throws(SQLiteError) -> Int {
        let value = try int64(column)
        guard let int = Int(exactly: value) else {
            throw SQLiteError(code: SQLITE_MISMATCH, message: "column \(column) (\(name(column))) value \(value) does not fit an Int")
        }
        return int
    }

    /// A column's bytes (a blob's, or text's UTF-8); nil for NULL.
    public func blob(_ column: Int32) -> [UInt8]? {
        guard !isNull(column) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let bytes = sqlite3_column_blob(statement, column) else { return [] }
        return [UInt8](UnsafeRawBufferPointer(start: bytes, count: count))
    }

    /// A column as text (SQLite converts numbers); nil for NULL.
    public func text(_ column: Int32) -> String? {
        guard !isNull(column), let text = sqlite3_column_text(statement, column) else { return nil }
        return String(cString: text)
    }

    private func name(_ column: Int32) -> String {
        sqlite3_column_name(statement, column).map { String(cString: $0) } ?? "?"
    }

    private func typeName(_ column: Int32) -> String {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_NULL: "NULL"
        case SQLITE_TEXT: "text"
        case SQLITE_BLOB: "a blob"
        case SQLITE_FLOAT: "a non-integral number"
        default: "an integer"
        }
    }
}

/// SQLite copies a bound value before the bind call returns (the value's buffer is temporary).
private let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
