import Foundation
import GRDB

/// The durable store: one SQLite file in WAL mode, reached through GRDB.
///
/// Schema (version 1, `PRAGMA user_version`):
/// - `messages(seq INTEGER PRIMARY KEY, kind INTEGER 0|1, captured_at INTEGER ms, body BLOB,
///   properties BLOB, size INTEGER)`: `seq` is the rowid, so appending in sequence order fills
///   B-tree pages completely and costs no separate index.
/// - `meta(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID`: `next_seq` and the drop counters.
final class SQLiteStore: OutboxStore {
    static let schemaVersion = 1

    let path: String
    private let queue: DatabaseQueue
    /// The configured `synchronous` pragma (FULL or NORMAL).
    private let synchronous: String

    /// What the file held when it was opened.
    struct Contents {
        var meta: StoreMeta
        var depth: Int
        var bytes: Int
    }

    /// Opens (creating if needed) the file at `path` and checks it with `PRAGMA quick_check`.
    ///
    /// - Parameter initialSequence: `next_seq` for a file created now.
    static func open(path: String, configuration: OutboxConfiguration,
                     initialSequence: UInt64) throws(StoreFailure) -> (SQLiteStore, Contents) {
        var config = Configuration()
        config.label = "outbox"
        let synchronous = configuration.synchronous.rawValue
        let pageLimit = configuration.maximumFileBytes.map { max(16, $0 / 4096) }
        // WAL is set here rather than with `config.journalMode = .wal`: GRDB's WAL set-up then
        // forces `synchronous = NORMAL` (overriding the configured FULL) and commits a throw-away
        // table, which fails on a full disk and would keep a full file from ever reopening.
        config.prepareDatabase { db in
            let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            guard mode == "wal" else {
                throw StoreFailure.unusable("SQLite refused WAL mode (journal_mode is \(mode ?? "unknown"))")
            }
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            if let pageLimit { try db.execute(sql: "PRAGMA max_page_count = \(pageLimit)") }
        }
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
        } catch {
            throw classify(error, doing: "open")
        }
        let store = SQLiteStore(path: path, queue: queue, synchronous: synchronous)
        do {
            let check = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            guard check == ["ok"] else {
                store.close()
                throw StoreFailure.corrupt("integrity check failed: " + check.prefix(3).joined(separator: "; "))
            }
            let contents = try queue.write { db in try store.prepareSchema(db, initialSequence: initialSequence) }
            return (store, contents)
        } catch let failure as StoreFailure {
            store.close()
            throw failure
        } catch {
            store.close()
            throw classify(error, doing: "open")
        }
    }

    private init(path: String, queue: DatabaseQueue, synchronous: String) {
        self.path = path
        self.queue = queue
        self.synchronous = synchronous
    }

    /// A pragma's value as text (tests check `synchronous` and `journal_mode`).
    func pragma(_ name: String) -> String? {
        try? queue.read { db in try String.fetchOne(db, sql: "PRAGMA \(name)") }
    }

    func close() {
        try? queue.close()
    }

    private func prepareSchema(_ db: Database, initialSequence: UInt64) throws -> Contents {
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if version > Self.schemaVersion {
            throw StoreFailure.unusable("the file has schema version \(version), this agent knows up to \(Self.schemaVersion) (written by a newer agent); upgrade the agent or move the file away")
        }
        if version == 0 {
            try db.execute(sql: """
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
            try writeMeta(db, StoreMeta(nextSequence: initialSequence, drops: OutboxDrops()))
        }
        let values = try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT key, value FROM meta").map {
            (row: Row) -> (String, Int64) in (row[0], row[1])
        })
        func counter(_ key: String) -> UInt64 { UInt64(clamping: values[key] ?? 0) }
        var drops = OutboxDrops()
        drops.quotaAggregates = counter(Key.quotaAggregates)
        drops.quotaAlerts = counter(Key.quotaAlerts)
        drops.expiredAggregates = counter(Key.expiredAggregates)
        drops.expiredAlerts = counter(Key.expiredAlerts)
        drops.unreadable = counter(Key.unreadable)
        let totals = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(size), 0), coalesce(max(seq), 0) FROM messages")
        let depth: Int = totals?[0] ?? 0
        let bytes: Int = totals?[1] ?? 0
        let maxSeq: Int64 = totals?[2] ?? 0
        // next_seq is written with every insert; max(seq) + 1 only guards against a file edited by hand.
        let next = max(counter(Key.nextSequence), UInt64(clamping: maxSeq) + 1, 1)
        return Contents(meta: StoreMeta(nextSequence: next, drops: drops), depth: depth, bytes: bytes)
    }

    private enum Key {
        static let nextSequence = "next_seq"
        static let quotaAggregates = "dropped_quota_aggregate"
        static let quotaAlerts = "dropped_quota_alert"
        static let expiredAggregates = "dropped_expired_aggregate"
        static let expiredAlerts = "dropped_expired_alert"
        static let unreadable = "dropped_unreadable"
    }

    private func writeMeta(_ db: Database, _ meta: StoreMeta) throws {
        let statement = try db.cachedStatement(sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
        let pairs: [(String, UInt64)] = [
            (Key.nextSequence, meta.nextSequence),
            (Key.quotaAggregates, meta.drops.quotaAggregates), (Key.quotaAlerts, meta.drops.quotaAlerts),
            (Key.expiredAggregates, meta.drops.expiredAggregates), (Key.expiredAlerts, meta.drops.expiredAlerts),
            (Key.unreadable, meta.drops.unreadable),
        ]
        for (key, value) in pairs {
            try statement.execute(arguments: [key, Int64(clamping: value)])
        }
    }

    // MARK: OutboxStore

    private func write<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreFailure) -> T {
        do {
            return try queue.write(body)
        } catch {
            throw Self.classify(error, doing: what)
        }
    }

    private func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreFailure) -> T {
        do {
            return try queue.read(body)
        } catch {
            throw Self.classify(error, doing: what)
        }
    }

    func oldest(kind: OutboxKind, covering bytes: Int) throws(StoreFailure) -> [Victim] {
        try read("select oldest") { db in
            var victims: [Victim] = []
            var covered = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, size FROM messages WHERE kind = ? ORDER BY seq",
                                           arguments: [Int(kind.rawValue)])
            while covered < bytes, let row = try rows.next() {
                let size: Int = row[1]
                victims.append(Victim(seq: UInt64(clamping: row[0] as Int64), kind: kind, size: size))
                covered += size
            }
            return victims
        }
    }

    func expiredHead(before cutoff: Int64) throws(StoreFailure) -> [Victim] {
        try read("select expired") { db in
            var victims: [Victim] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, kind, size, captured_at FROM messages ORDER BY seq")
            while let row = try rows.next() {
                let captured: Int64 = row[3]
                guard captured < cutoff else { break }
                let kind = OutboxKind(rawValue: UInt8(clamping: row[1] as Int64)) ?? .aggregate
                victims.append(Victim(seq: UInt64(clamping: row[0] as Int64), kind: kind, size: row[2]))
            }
            return victims
        }
    }

    func commit(insert rows: [StoredRow], delete: [UInt64], meta: StoreMeta) throws(StoreFailure) {
        try write("insert") { db in try apply(db, insert: rows, delete: delete, meta: meta) }
    }

    private func apply(_ db: Database, insert rows: [StoredRow], delete: [UInt64], meta: StoreMeta) throws {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO messages (seq, kind, captured_at, body, properties, size) VALUES (?, ?, ?, ?, ?, ?)
            """)
        for row in rows {
            try insert.execute(arguments: [Int64(clamping: row.seq), Int(row.kind?.rawValue ?? 0),
                                           row.capturedAtMilliseconds, Data(row.body), Data(row.properties),
                                           row.size])
        }
        if !delete.isEmpty {
            let statement = try db.cachedStatement(sql: "DELETE FROM messages WHERE seq = ?")
            for seq in delete { try statement.execute(arguments: [Int64(clamping: seq)]) }
        }
        try writeMeta(db, meta)
    }

    func peek(limit: Int, after: UInt64) throws(StoreFailure) -> [StoredRow] {
        try read("peek") { db in
            try Row.fetchAll(db, sql: """
                SELECT seq, kind, captured_at, body, properties FROM messages WHERE seq > ? ORDER BY seq LIMIT ?
                """, arguments: [Int64(clamping: after), limit]).map(Self.storedRow)
        }
    }

    private static func storedRow(_ row: Row) -> StoredRow {
        let body: Data = row[3] ?? Data()
        let properties: Data = row[4] ?? Data()
        return StoredRow(seq: UInt64(clamping: row[0] as Int64),
                         kind: OutboxKind(rawValue: UInt8(clamping: row[1] as Int64)),
                         capturedAtMilliseconds: row[2], body: [UInt8](body), properties: [UInt8](properties))
    }

    /// Deletions (acknowledged messages) commit with `synchronous = NORMAL` even when enqueues use
    /// FULL: losing one to a power cut only means the hub gets that message again (it dedupes by
    /// `$.mid`), and the WAL is written in order, so the next fsynced enqueue makes earlier
    /// deletions durable too. This keeps a drain at thousands of messages per second instead of
    /// one fsync per PUBACK batch (docs/outbox.md, "Durability").
    func remove(_ seqs: [UInt64]) throws(StoreFailure) -> [Victim] {
        guard synchronous != "NORMAL" else { return try removeInTransaction(seqs) }
        do {
            return try queue.writeWithoutTransaction { db in
                try db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute()
                defer { try? db.cachedStatement(sql: "PRAGMA synchronous = \(synchronous)").execute() }
                var removed: [Victim] = []
                try db.inTransaction {
                    removed = try Self.delete(seqs, db)
                    return .commit
                }
                return removed
            }
        } catch {
            throw Self.classify(error, doing: "delete")
        }
    }

    private func removeInTransaction(_ seqs: [UInt64]) throws(StoreFailure) -> [Victim] {
        try write("delete") { db in try Self.delete(seqs, db) }
    }

    private static func delete(_ seqs: [UInt64], _ db: Database) throws -> [Victim] {
        do {
            let statement = try db.cachedStatement(sql: "DELETE FROM messages WHERE seq = ? RETURNING kind, size")
            var removed: [Victim] = []
            for seq in seqs {
                if let row = try Row.fetchOne(statement, arguments: [Int64(clamping: seq)]) {
                    let kind = OutboxKind(rawValue: UInt8(clamping: row[0] as Int64)) ?? .aggregate
                    removed.append(Victim(seq: seq, kind: kind, size: row[1]))
                }
            }
            return removed
        }
    }

    func shiftCaptures(fromSequence: UInt64, byMilliseconds milliseconds: Int64) throws(StoreFailure) -> Int {
        try write("shift capture times") { db in
            try db.execute(sql: "UPDATE messages SET captured_at = captured_at + ? WHERE seq >= ?",
                           arguments: [milliseconds, Int64(clamping: fromSequence)])
            return db.changesCount
        }
    }

    func headCapture() throws(StoreFailure) -> Int64? {
        try read("select head") { db in
            try Int64.fetchOne(db, sql: "SELECT captured_at FROM messages ORDER BY seq LIMIT 1")
        }
    }

    func allRows() throws(StoreFailure) -> [StoredRow] {
        try read("read all") { db in
            try Row.fetchAll(db, sql: "SELECT seq, kind, captured_at, body, properties FROM messages ORDER BY seq")
                .map(Self.storedRow)
        }
    }

    /// Replaces the whole queue and meta (going back to the file after a degraded spell whose
    /// memory queue started from this file's rows).
    func replaceAll(with rows: [StoredRow], meta: StoreMeta) throws(StoreFailure) {
        try write("replace") { db in
            try db.execute(sql: "DELETE FROM messages")
            try apply(db, insert: rows, delete: [], meta: meta)
        }
    }

    /// Moves the WAL into the database file and truncates the WAL (for measuring the file).
    func checkpoint() throws(StoreFailure) {
        _ = try write("checkpoint") { _ in () }
        do {
            _ = try queue.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        } catch {
            throw Self.classify(error, doing: "checkpoint")
        }
    }

    // MARK: Errors

    static func classify(_ error: any Error, doing what: String) -> StoreFailure {
        if let failure = error as? StoreFailure { return failure }
        guard let error = error as? DatabaseError else {
            return .unusable("\(what): \(error)")
        }
        let text = "\(what): \(error.message ?? "SQLite error") (SQLite code \(error.extendedResultCode.rawValue))"
        switch error.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: return .corrupt(text)
        // SQLite's unix VFS turns ENOSPC on write into SQLITE_FULL, as it does max_page_count.
        case .SQLITE_FULL: return .full(text)
        default: return .unusable(text)
        }
    }
}
