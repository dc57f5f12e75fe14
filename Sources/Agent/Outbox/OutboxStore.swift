/// One message as a store keeps it: properties already encoded, capture time in milliseconds.
struct StoredRow: Sendable, Equatable {
    var seq: UInt64
    /// `nil` when the stored kind is neither 0 nor 1 (a damaged row).
    var kind: OutboxKind?
    var capturedAtMilliseconds: Int64
    var body: [UInt8]
    var properties: [UInt8]

    var size: Int { body.count + properties.count }
}

/// A message a drop or an acknowledgement removes, with what the ledger needs to know.
struct Victim: Sendable, Equatable {
    var seq: UInt64
    var kind: OutboxKind
    var size: Int
}

/// What a store holds besides messages; the outbox keeps the same in memory as its ledger.
struct StoreMeta: Sendable, Equatable {
    var nextSequence: UInt64
    var drops: OutboxDrops
}

/// Why a store operation failed, sorted by what the outbox does about it.
enum StoreFailure: Error, Sendable {
    /// The file is damaged or not a database: move it aside, start a fresh one.
    case corrupt(String)
    /// No space (SQLITE_FULL, ENOSPC) or the file cap: degrade to memory.
    case full(String)
    /// Anything else (cannot open, read-only, I/O error, newer schema): degrade to memory.
    case unusable(String)

    var reason: String {
        switch self {
        case let .corrupt(text), let .full(text), let .unusable(text): text
        }
    }
}

/// The storage under ``Outbox``: the SQLite file or, degraded, memory. The outbox holds its lock
/// around every call, keeps the ledger (depth, bytes, next sequence, drops) and decides what to
/// drop; a store only keeps rows and applies each change atomically.
protocol OutboxStore: AnyObject {
    /// Oldest first, entries of `kind` until their sizes add up to at least `bytes` (or all).
    func oldest(kind: OutboxKind, covering bytes: Int) throws(StoreFailure) -> [Victim]
    /// Oldest first from the head of the queue, while captured before `cutoff` (ms since 1970).
    func expiredHead(before cutoff: Int64) throws(StoreFailure) -> [Victim]
    /// Inserts `rows`, deletes `delete` and records `meta`, all or nothing.
    func commit(insert rows: [StoredRow], delete: [UInt64], meta: StoreMeta) throws(StoreFailure)
    /// Oldest first, up to `limit` rows with `seq > after`.
    func peek(limit: Int, after: UInt64) throws(StoreFailure) -> [StoredRow]
    /// Deletes these messages (acknowledged); returns the ones that were there.
    func remove(_ seqs: [UInt64]) throws(StoreFailure) -> [Victim]
    /// Adds `milliseconds` to the capture time of every row numbered `fromSequence` or above;
    /// returns how many rows changed.
    func shiftCaptures(fromSequence: UInt64, byMilliseconds milliseconds: Int64) throws(StoreFailure) -> Int
    /// Capture time of the head of the queue.
    func headCapture() throws(StoreFailure) -> Int64?
    /// Every row, oldest first (to move a queue between stores).
    func allRows() throws(StoreFailure) -> [StoredRow]
}
