/// How the outbox is bounded and how hard it syncs. Every field has a default fit for a
/// Raspberry Pi-class board with an SD card.
public struct OutboxConfiguration: Sendable, Equatable {
    /// SQLite's `synchronous` setting in WAL mode (docs/outbox.md: what a power cut costs).
    public enum Synchronous: String, Sendable, Equatable, CaseIterable {
        /// Each commit is fsynced to the WAL before `enqueue` returns: a power cut loses nothing
        /// that `enqueue` returned for. The default.
        case full = "FULL"
        /// The WAL is fsynced only at checkpoints: kill -9 loses nothing committed, a power cut
        /// may roll back the last commits (never corrupts).
        case normal = "NORMAL"
    }

    /// The database file's name inside the state directory.
    public var fileName = "outbox.db"
    /// Bytes of messages (bodies plus encoded properties) kept at most; over it, the oldest
    /// aggregates go first, alerts only when no aggregate is left. The default holds about
    /// 450,000 typical ~280-byte messages: 3 days at 1 message/s with room to spare.
    public var quotaBytes = 128 * 1024 * 1024
    /// Messages captured longer ago than this are dropped (counted as expired).
    public var maximumAge: Duration = .seconds(7 * 24 * 3600)
    /// The quota while degraded to memory (RAM is scarcer than disk on a Zero 2 W).
    public var memoryQuotaBytes = 16 * 1024 * 1024
    public var synchronous: Synchronous = .full
    /// While degraded to memory, how often `enqueue` tries the database again.
    public var durableRetryInterval: Duration = .seconds(300)
    /// A hard cap on the database file (`PRAGMA max_page_count`); reaching it is handled as a
    /// full disk. `nil`: no cap beyond the disk. Mainly for tests that need a full database.
    public var maximumFileBytes: Int?
    /// Messages submitted (``Outbox/submit(kind:capturedAt:properties:body:accepted:)``) and not
    /// committed yet, at most; a producer beyond it waits for the next commit.
    public var maximumPending = 4096

    public init() {}

    /// Every problem at once, each with its key; empty when valid.
    public func validate() -> [String] {
        var issues: [String] = []
        if quotaBytes < 4096 { issues.append("outbox.quotaBytes is \(quotaBytes); give at least 4096") }
        if memoryQuotaBytes < 4096 { issues.append("outbox.memoryQuotaBytes is \(memoryQuotaBytes); give at least 4096") }
        if maximumAge <= .zero { issues.append("outbox.maximumAge is \(maximumAge); give a positive duration") }
        if durableRetryInterval <= .zero {
            issues.append("outbox.durableRetryInterval is \(durableRetryInterval); give a positive duration")
        }
        if let maximumFileBytes, maximumFileBytes < 64 * 1024 {
            issues.append("outbox.maximumFileBytes is \(maximumFileBytes); give at least 65536 or none")
        }
        if maximumPending < 1 { issues.append("outbox.maximumPending is \(maximumPending); give at least 1") }
        if fileName.isEmpty || fileName.contains("/") {
            issues.append("outbox.fileName is \"\(fileName)\"; give a plain file name such as outbox.db")
        }
        return issues
    }
}
