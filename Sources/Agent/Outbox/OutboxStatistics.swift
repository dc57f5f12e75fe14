import FoundationEssentials

/// Where the outbox keeps messages right now.
public enum OutboxMode: Sendable, Equatable, CustomStringConvertible {
    /// In the SQLite file at `path`: survives kill -9 and (with `synchronous = FULL`) power loss.
    case durable(path: String)
    /// In memory only, because of `reason`; lost on restart. The outbox tries the file again.
    case memory(reason: String)

    public var isDurable: Bool { if case .durable = self { true } else { false } }

    public var description: String {
        switch self {
        case let .durable(path): "durable (\(path))"
        case let .memory(reason): "memory only, NOT durable: \(reason)"
        }
    }
}

/// Messages dropped without being delivered, by reason and kind. Persisted with the queue, so
/// counts survive restarts (while the outbox is durable).
public struct OutboxDrops: Sendable, Equatable {
    /// Dropped because the byte quota was reached.
    public var quotaAggregates: UInt64 = 0
    public var quotaAlerts: UInt64 = 0
    /// Dropped because they were older than the maximum age.
    public var expiredAggregates: UInt64 = 0
    public var expiredAlerts: UInt64 = 0
    /// Rows that could no longer be read back (damaged in place).
    public var unreadable: UInt64 = 0

    public init() {}

    public var total: UInt64 { quotaAggregates + quotaAlerts + expiredAggregates + expiredAlerts + unreadable }
    public var aggregates: UInt64 { quotaAggregates + expiredAggregates }
    public var alerts: UInt64 { quotaAlerts + expiredAlerts }

    mutating func add(quota kind: OutboxKind, _ count: UInt64 = 1) {
        if kind == .aggregate { quotaAggregates += count } else { quotaAlerts += count }
    }

    mutating func add(expired kind: OutboxKind, _ count: UInt64 = 1) {
        if kind == .aggregate { expiredAggregates += count } else { expiredAlerts += count }
    }

    static func + (lhs: OutboxDrops, rhs: OutboxDrops) -> OutboxDrops {
        var sum = lhs
        sum.quotaAggregates += rhs.quotaAggregates
        sum.quotaAlerts += rhs.quotaAlerts
        sum.expiredAggregates += rhs.expiredAggregates
        sum.expiredAlerts += rhs.expiredAlerts
        sum.unreadable += rhs.unreadable
        return sum
    }
}

/// A snapshot for `doctor`, `status` and the reported twin properties.
public struct OutboxStatistics: Sendable, Equatable {
    /// Messages waiting for their PUBACK.
    public var depth: Int
    /// Bytes counted against the quota (bodies plus encoded properties).
    public var bytes: Int
    public var quotaBytes: Int
    /// Capture time of the oldest waiting message (the head of the queue).
    public var oldestCapture: Date?
    /// `now - oldestCapture` on the outbox's clock.
    public var oldestAge: Duration?
    public var drops: OutboxDrops
    public var mode: OutboxMode
    /// The sequence number the next message gets.
    public var nextSequence: UInt64
    /// Why the file is less durable than configured right now (nil: as configured).
    public var durabilityProblem: String? = nil
}
