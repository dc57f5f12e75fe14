import FoundationEssentials
import SQLite

extension Outbox {
    /// Reads an outbox file without changing it (for `fieldagent doctor` while no agent runs):
    /// depth, bytes, oldest capture and drops. Never moves, repairs or creates anything.
    public static func inspect(path: String, now: Date = Date()) -> Result<OutboxStatistics, OutboxError> {
        guard FileManager.default.fileExists(atPath: path) else {
            return .failure(OutboxError(.stateDirectoryUnusable, "no outbox at \(path) (the agent has not run with this state directory yet)"))
        }
        do {
            let database = try SQLiteDatabase(path: path, readOnly: true)
            defer { database.close() }
            let totals = try database.row("SELECT count(*), coalesce(sum(size), 0), min(captured_at) FROM messages WHERE NOT (\(SQLiteStore.damagedRow))") {
                row throws(SQLiteError) in (depth: try row.int(0), bytes: try row.int(1), oldest: try row.optionalInt64(2))
            }
            let meta = try SQLiteStore.readMeta(database)
            let oldest = (totals?.oldest).map { Date(timeIntervalSince1970: Double($0) / 1000) }
            return .success(OutboxStatistics(
                depth: totals?.depth ?? 0, bytes: totals?.bytes ?? 0, quotaBytes: 0, oldestCapture: oldest,
                oldestAge: oldest.map { .milliseconds(max(0, Int64((now.timeIntervalSince($0) * 1000).rounded()))) },
                drops: meta.drops, mode: .durable(path: path), nextSequence: meta.nextSequence))
        } catch {
            return .failure(OutboxError(.stateDirectoryUnusable, "cannot read \(path): \(error)"))
        }
    }
}
