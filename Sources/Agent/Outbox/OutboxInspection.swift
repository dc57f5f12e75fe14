import Foundation
import GRDB

extension Outbox {
    /// Reads an outbox file without changing it (for `fieldagent doctor` while no agent runs):
    /// depth, bytes, oldest capture and drops. Never moves, repairs or creates anything.
    public static func inspect(path: String, now: Date = Date()) -> Result<OutboxStatistics, OutboxError> {
        guard FileManager.default.fileExists(atPath: path) else {
            return .failure(OutboxError(.stateDirectoryUnusable, "no outbox at \(path) (the agent has not run with this state directory yet)"))
        }
        var configuration = Configuration()
        configuration.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            return try queue.read { db in
                let totals = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(size), 0), min(captured_at) FROM messages")
                let values = try Dictionary(uniqueKeysWithValues: Row.fetchAll(db, sql: "SELECT key, value FROM meta").map {
                    (row: Row) -> (String, Int64) in (row[0], row[1])
                })
                func counter(_ key: String) -> UInt64 { UInt64(clamping: values[key] ?? 0) }
                var drops = OutboxDrops()
                drops.quotaAggregates = counter("dropped_quota_aggregate")
                drops.quotaAlerts = counter("dropped_quota_alert")
                drops.expiredAggregates = counter("dropped_expired_aggregate")
                drops.expiredAlerts = counter("dropped_expired_alert")
                drops.unreadable = counter("dropped_unreadable")
                let depth: Int = totals?[0] ?? 0
                let bytes: Int = totals?[1] ?? 0
                let oldestMilliseconds: Int64? = totals?[2]
                let oldest = oldestMilliseconds.map { Date(timeIntervalSince1970: Double($0) / 1000) }
                return .success(OutboxStatistics(
                    depth: depth, bytes: bytes, quotaBytes: 0, oldestCapture: oldest,
                    oldestAge: oldest.map { .milliseconds(max(0, Int64((now.timeIntervalSince($0) * 1000).rounded()))) },
                    drops: drops, mode: .durable(path: path), nextSequence: counter("next_seq")))
            }
        } catch {
            return .failure(OutboxError(.stateDirectoryUnusable, "cannot read \(path): \(error)"))
        }
    }
}
