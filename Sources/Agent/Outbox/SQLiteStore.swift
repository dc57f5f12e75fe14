import Logging
import SQLite

/// The durable store: one SQLite file in WAL mode, through the SQLite wrapper.
///
/// Schema (version 1, `PRAGMA user_version`):
/// - `messages(seq INTEGER PRIMARY KEY, kind INTEGER 0|1, captured_at INTEGER ms, body BLOB,
///   properties BLOB, size INTEGER)`: `seq` is the rowid, so appending in sequence order fills
///   B-tree pages completely and costs no separate index.
/// - `meta(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID`: `next_seq` and the drop counters.
final class SQLiteStore: OutboxStore {
    static let schemaVersion = 1

    let path: String
    private let database: SQLiteDatabase
    /// The configured `synchronous` pragma (FULL or NORMAL).
    private let synchronous: String
    private let logger: Logger
    /// Why commits are less durable than configured right now (`synchronous` could not be put
    /// back after a delete); nil when they are as configured. Logged when it changes.
    private(set) var durabilityProblem: String?
    /// Sets the `synchronous` pragma (replaced by tests to make it fail).
    var setSynchronous: (SQLiteDatabase, String) throws -> Void = { database, value in
        try database.statement("PRAGMA synchronous = \(value)").run()
    }

    /// What the file held when it was opened.
    struct Contents {
        var meta: StoreMeta
        var depth: Int
        var bytes: Int
        /// Rows that could not be decoded (a kind, capture time or size that is not an integer
        /// an enqueue writes, a missing body), deleted at open and counted in
        /// `meta.drops.unreadable`.
        var damaged: [UInt64] = []
    }

    /// Opens (creating if needed) the file at `path` and checks it with `PRAGMA quick_check`.
    ///
    /// - Parameter initialSequence: `next_seq` for a file created now.
    static func open(path: String, configuration: OutboxConfiguration, initialSequence: UInt64,
                     logger: Logger) throws(StoreFailure) -> (SQLiteStore, Contents) {
        let synchronous = configuration.synchronous.rawValue
        let pageLimit = configuration.maximumFileBytes.map { max(16, $0 / 4096) }
        let database: SQLiteDatabase
        do {
            database = try SQLiteDatabase(path: path)
        } catch {
            throw classify(error, doing: "open")
        }
        let store = SQLiteStore(path: path, database: database, synchronous: synchronous, logger: logger)
        do {
            // WAL first: the first statement is also the one that finds a file that is not a database.
            let mode = try database.text("PRAGMA journal_mode = WAL")
            guard mode == "wal" else {
                throw StoreFailure.unusable("SQLite refused WAL mode (journal_mode is \(mode ?? "unknown"))")
            }
            try database.execute("PRAGMA synchronous = \(synchronous)")
            if let pageLimit { try database.execute("PRAGMA max_page_count = \(pageLimit)") }
            // A NULL or CHECK violation in a row is that row's damage, not the file's: such rows
            // take the damaged-rows way in `prepareSchema` instead of costing the whole queue.
            let check = try database.rows("PRAGMA quick_check") { row in row.text(0) ?? "" }.filter { line in
                !(line.hasPrefix("NULL value in messages.") || line == "CHECK constraint failed in messages")
            }
            guard check == ["ok"] || check.isEmpty else {
                store.close()
                throw StoreFailure.corrupt("integrity check failed: " + check.prefix(3).joined(separator: "; "))
            }
            let contents = try database.transaction { try store.prepareSchema(initialSequence: initialSequence) }
            return (store, contents)
        } catch let failure as StoreFailure {
            store.close()
            throw failure
        } catch {
            store.close()
            throw classify(error, doing: "open")
        }
    }

    private init(path: String, database: SQLiteDatabase, synchronous: String, logger: Logger) {
        self.path = path
        self.database = database
        self.synchronous = synchronous
        self.logger = logger
    }

    /// A pragma's value as text (tests check `synchronous` and `journal_mode`).
    func pragma(_ name: String) -> String? {
        try? database.text("PRAGMA \(name)")
    }

    func close() {
        database.close()
    }

    private func prepareSchema(initialSequence: UInt64) throws -> Contents {
        let version = try database.row("PRAGMA user_version") { row throws(SQLiteError) in try row.int(0) } ?? 0
        if version > Self.schemaVersion {
            throw StoreFailure.unusable("the file has schema version \(version), this agent knows up to \(Self.schemaVersion) (written by a newer agent); upgrade the agent or move the file away")
        }
        if version == 0 {
            try database.execute("""
                CREATE TABLE messages (
                    seq INTEGER PRIMARY KEY,
                    kind INTEGER NOT NULL CHECK (kind IN (0, 1)),
                    captured_at INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    properties BLOB NOT NULL,
                    size INTEGER NOT NULL
                );
                CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
                PRAGMA user_version = \(Self.schemaVersion);
                """)
            try writeMeta(StoreMeta(nextSequence: initialSequence, drops: OutboxDrops()))
        }
        var meta = try Self.readMeta(database)
        // Values no enqueue writes (SQLite keeps any type in any column: a damaged or hand-edited
        // file) would stop every later read of the queue: such rows take the damaged-rows way
        // (deleted, counted as unreadable, logged by the outbox).
        let damaged = try database.rows("SELECT seq FROM messages WHERE \(Self.damagedRow)") { row throws(SQLiteError) in
            try row.int64(0)
        }
        if !damaged.isEmpty {
            try database.execute("DELETE FROM messages WHERE \(Self.damagedRow)")
            meta.drops.unreadable += UInt64(damaged.count)
            try writeMeta(meta)
        }
        let totals = try database.row("SELECT count(*), coalesce(sum(size), 0), coalesce(max(seq), 0) FROM messages") {
            row throws(SQLiteError) in (depth: try row.int(0), bytes: try row.int(1), maxSeq: try row.int64(2))
        }
        // next_seq is written with every insert; max(seq) + 1 only guards against a file edited by hand.
        let next = max(meta.nextSequence, UInt64(clamping: totals?.maxSeq ?? 0) + 1, 1)
        return Contents(meta: StoreMeta(nextSequence: next, drops: meta.drops),
                        depth: totals?.depth ?? 0, bytes: totals?.bytes ?? 0, damaged: damaged.map { UInt64(clamping: $0) })
    }

    /// A row whose columns are not what an enqueue writes.
    static let damagedRow = "typeof(kind) != 'integer' OR kind NOT IN (0, 1) OR typeof(captured_at) != 'integer' "
        + "OR typeof(size) != 'integer' OR size < 0 OR typeof(body) NOT IN ('blob', 'text') "
        + "OR typeof(properties) NOT IN ('blob', 'text')"

    private enum Key {
        static let nextSequence = "next_seq"
        static let quotaAggregates = "dropped_quota_aggregate"
        static let quotaAlerts = "dropped_quota_alert"
        static let expiredAggregates = "dropped_expired_aggregate"
        static let expiredAlerts = "dropped_expired_alert"
        static let unreadable = "dropped_unreadable"
    }

    /// The `meta` table as the ledger keeps it (a missing counter is 0); also what `doctor` reads.
    static func readMeta(_ database: SQLiteDatabase) throws(SQLiteError) -> StoreMeta {
        let pairs = try database.rows("SELECT key, value FROM meta") { row throws(SQLiteError) in
            (row.text(0) ?? "", try row.int64(1))
        }
        let values = Dictionary(pairs, uniquingKeysWith: { _, last in last })
        func counter(_ key: String) -> UInt64 { UInt64(clamping: values[key] ?? 0) }
        var drops = OutboxDrops()
        drops.quotaAggregates = counter(Key.quotaAggregates)
        drops.quotaAlerts = counter(Key.quotaAlerts)
        drops.expiredAggregates = counter(Key.expiredAggregates)
        drops.expiredAlerts = counter(Key.expiredAlerts)
        drops.unreadable = counter(Key.unreadable)
        return StoreMeta(nextSequence: counter(Key.nextSequence), drops: drops)
    }

    private func writeMeta(_ meta: StoreMeta) throws(SQLiteError) {
        let statement = try database.statement("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
        let pairs: [(String, UInt64)] = [
            (Key.nextSequence, meta.nextSequence),
            (Key.quotaAggregates, meta.drops.quotaAggregates), (Key.quotaAlerts, meta.drops.quotaAlerts),
            (Key.expiredAggregates, meta.drops.expiredAggregates), (Key.expiredAlerts, meta.drops.expiredAlerts),
            (Key.unreadable, meta.drops.unreadable),
        ]
        for (key, value) in pairs {
            try statement.run([.text(key), .integer(Int64(clamping: value))])
        }
    }

    // MARK: OutboxStore

    private func write<T>(_ what: String, _ body: () throws -> T) throws(StoreFailure) -> T {
        do {
            return try database.transaction(body)
        } catch {
            throw Self.classify(error, doing: what)
        }
    }

    private func read<T>(_ what: String, _ body: () throws(SQLiteError) -> T) throws(StoreFailure) -> T {
        do {
            return try body()
        } catch {
            throw Self.classify(error, doing: what)
        }
    }

    func oldest(kind: OutboxKind, covering bytes: Int) throws(StoreFailure) -> [Victim] {
        try read("select oldest") { () throws(SQLiteError) in
            var victims: [Victim] = []
            var covered = 0
            let statement = try database.statement("SELECT seq, size FROM messages WHERE kind = ? ORDER BY seq")
            defer { statement.reset() }
            try statement.bind([.integer(Int64(kind.rawValue))])
            while covered < bytes, let row = try statement.step() {
                let size = try row.int(1)
                victims.append(Victim(seq: UInt64(clamping: try row.int64(0)), kind: kind, size: size))
                covered += size
            }
            return victims
        }
    }

    func expiredHead(before cutoff: Int64) throws(StoreFailure) -> [Victim] {
        try read("select expired") { () throws(SQLiteError) in
            var victims: [Victim] = []
            let statement = try database.statement("SELECT seq, kind, size, captured_at FROM messages ORDER BY seq")
            defer { statement.reset() }
            while let row = try statement.step() {
                guard try row.int64(3) < cutoff else { break }
                let kind = OutboxKind(rawValue: UInt8(clamping: try row.int64(1))) ?? .aggregate
                victims.append(Victim(seq: UInt64(clamping: try row.int64(0)), kind: kind, size: try row.int(2)))
            }
            return victims
        }
    }

    func commit(insert rows: [StoredRow], delete: [UInt64], meta: StoreMeta) throws(StoreFailure) {
        if durabilityProblem != nil { restoreSynchronous() }
        try write("insert") { try apply(insert: rows, delete: delete, meta: meta) }
    }

    private func apply(insert rows: [StoredRow], delete: [UInt64], meta: StoreMeta) throws(SQLiteError) {
        let insert = try database.statement("""
            INSERT INTO messages (seq, kind, captured_at, body, properties, size) VALUES (?, ?, ?, ?, ?, ?)
            """)
        for row in rows {
            try insert.run([.integer(Int64(clamping: row.seq)), .integer(Int64(row.kind?.rawValue ?? 0)),
                            .integer(row.capturedAtMilliseconds), .blob(row.body), .blob(row.properties),
                            .integer(Int64(row.size))])
        }
        if !delete.isEmpty {
            let statement = try database.statement("DELETE FROM messages WHERE seq = ?")
            for seq in delete { try statement.run([.integer(Int64(clamping: seq))]) }
        }
        try writeMeta(meta)
    }

    func peek(limit: Int, after: UInt64) throws(StoreFailure) -> [StoredRow] {
        try read("peek") { () throws(SQLiteError) in
            try database.rows("SELECT seq, kind, captured_at, body, properties FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
                              [.integer(Int64(clamping: after)), .integer(Int64(limit))], Self.storedRow)
        }
    }

    /// A row as stored; a kind or capture time that is not an integer (a file damaged or edited by
    /// hand) makes it a damaged row (`kind == nil`), which the outbox drops as unreadable.
    private static func storedRow(_ row: SQLiteRow) throws(SQLiteError) -> StoredRow {
        let kind = (try? row.int64(1)).flatMap { OutboxKind(rawValue: UInt8(clamping: $0)) }
        let captured = try? row.int64(2)
        return StoredRow(seq: UInt64(clamping: try row.int64(0)), kind: captured == nil ? nil : kind,
                         capturedAtMilliseconds: captured ?? 0, body: row.blob(3) ?? [], properties: row.blob(4) ?? [])
    }

    /// Deletions (acknowledged messages) commit with `synchronous = NORMAL` even when enqueues use
    /// FULL: losing one to a power cut only means the hub gets that message again (IoT Hub
    /// is at-least-once and does not deduplicate: consumers dedupe on `$.mid`), and the WAL is written in order, so the next fsynced enqueue makes earlier
    /// deletions durable too. This keeps a drain at thousands of messages per second instead of
    /// one fsync per PUBACK batch (docs/outbox.md, "Durability").
    func remove(_ seqs: [UInt64]) throws(StoreFailure) -> [Victim] {
        guard synchronous != "NORMAL" else { return try write("delete") { try delete(seqs) } }
        do {
            try database.statement("PRAGMA synchronous = NORMAL").run()
            defer { restoreSynchronous() }
            return try database.transaction { try delete(seqs) }
        } catch {
            throw Self.classify(error, doing: "delete")
        }
    }

    /// Puts `synchronous` back to the configured value. A failure is not ignored: every later
    /// enqueue would silently be less durable, so it is logged as an error, shown in the outbox's
    /// statistics (and `fieldagent status`) and tried again before each commit until it works.
    private func restoreSynchronous() {
        do {
            try setSynchronous(database, synchronous)
            if let problem = durabilityProblem {
                durabilityProblem = nil
                logger.notice("outbox: synchronous = \(synchronous) is back in force (it had failed: \(problem))")
            }
        } catch {
            guard durabilityProblem == nil else { return }
            let problem = "synchronous = \(synchronous) could not be restored after a delete (\(error)); enqueues are committed with synchronous = NORMAL, so a power cut can lose the last ones"
            durabilityProblem = problem
            logger.error("outbox: \(problem); trying again before every commit")
        }
    }

    private func delete(_ seqs: [UInt64]) throws(SQLiteError) -> [Victim] {
        let statement = try database.statement("DELETE FROM messages WHERE seq = ? RETURNING kind, size")
        var removed: [Victim] = []
        for seq in seqs {
            try statement.bind([.integer(Int64(clamping: seq))])
            // Run to the end: a RETURNING statement makes its change when stepped past its last row.
            var found: Victim?
            while let row = try statement.step() {
                let kind = OutboxKind(rawValue: UInt8(clamping: try row.int64(0))) ?? .aggregate
                found = Victim(seq: seq, kind: kind, size: try row.int(1))
            }
            statement.reset()
            if let found { removed.append(found) }
        }
        return removed
    }

    func shiftCaptures(fromSequence: UInt64, byMilliseconds milliseconds: Int64) throws(StoreFailure) -> Int {
        try write("shift capture times") {
            try database.statement("UPDATE messages SET captured_at = captured_at + ? WHERE seq >= ?")
                .run([.integer(milliseconds), .integer(Int64(clamping: fromSequence))])
            return database.changes
        }
    }

    func headCapture() throws(StoreFailure) -> Int64? {
        try read("select head") { () throws(SQLiteError) in
            try database.row("SELECT captured_at FROM messages ORDER BY seq LIMIT 1") { row throws(SQLiteError) in try row.int64(0) }
        }
    }

    func allRows() throws(StoreFailure) -> [StoredRow] {
        try read("read all") { () throws(SQLiteError) in
            try database.rows("SELECT seq, kind, captured_at, body, properties FROM messages ORDER BY seq", [], Self.storedRow)
        }
    }

    /// Replaces the whole queue and meta (going back to the file after a degraded spell whose
    /// memory queue started from this file's rows).
    func replaceAll(with rows: [StoredRow], meta: StoreMeta) throws(StoreFailure) {
        try write("replace") {
            try database.execute("DELETE FROM messages")
            try apply(insert: rows, delete: [], meta: meta)
        }
    }

    /// Moves the WAL into the database file and truncates the WAL (for measuring the file).
    func checkpoint() throws(StoreFailure) {
        let busy: Int64?
        do {
            // One row: busy (1 when a reader kept the checkpoint from finishing), WAL pages, pages moved.
            busy = try database.row("PRAGMA wal_checkpoint(TRUNCATE)") { row throws(SQLiteError) in try row.int64(0) }
        } catch {
            throw Self.classify(error, doing: "checkpoint")
        }
        if busy == 1 { throw StoreFailure.unusable("checkpoint: another connection is reading the file") }
    }

    // MARK: Errors

    static func classify(_ error: any Error, doing what: String) -> StoreFailure {
        if let failure = error as? StoreFailure { return failure }
        guard let error = error as? SQLiteError else {
            return .unusable("\(what): \(error)")
        }
        let text = "\(what): \(error.message) (SQLite code \(error.code))"
        switch error.resultCode {
        case SQLiteError.corrupt, SQLiteError.notADatabase: return .corrupt(text)
        // SQLite's unix VFS turns ENOSPC on write into SQLITE_FULL, as it does max_page_count.
        case SQLiteError.full: return .full(text)
        default: return .unusable(text)
        }
    }
}
