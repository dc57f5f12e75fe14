import FoundationEssentials

/// What a queued message is, which decides what a full outbox drops first.
///
/// Stored as an integer (0, 1): SQLite's record format keeps the constants 0 and 1 in no bytes
/// at all, where the words would cost 6–10 bytes per message.
public enum OutboxKind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// A periodic telemetry aggregate: dropped first, oldest first, when the outbox is full.
    case aggregate = 0
    /// A spike alert: dropped only when no aggregate is left.
    case alert = 1

    public var description: String { self == .aggregate ? "aggregate" : "alert" }
}

/// One message as the outbox holds it.
public struct OutboxEntry: Sendable, Equatable {
    /// The persisted sequence number: unique and increasing for the life of the state directory.
    public var seq: UInt64
    public var kind: OutboxKind
    /// When the reading was taken (millisecond precision), not when it was queued or sent.
    public var capturedAt: Date
    public var properties: OutboxProperties
    public var body: [UInt8]

    public init(seq: UInt64, kind: OutboxKind, capturedAt: Date, properties: OutboxProperties, body: [UInt8]) {
        self.seq = seq
        self.kind = kind
        self.capturedAt = capturedAt
        self.properties = properties
        self.body = body
    }

    /// Bytes counted against the quota: the body plus the encoded properties.
    public var size: Int { body.count + properties.encodedSize }
}

/// A message to enqueue in a batch (``Outbox/enqueue(batch:)``): everything but the sequence
/// number, which the outbox assigns and hands to `body` so the payload can embed it.
public struct OutboxDraft {
    public var kind: OutboxKind
    public var capturedAt: Date
    public var properties: OutboxProperties
    public var body: (UInt64) -> [UInt8]

    public init(kind: OutboxKind, capturedAt: Date, properties: OutboxProperties = [:],
                body: @escaping (UInt64) -> [UInt8]) {
        self.kind = kind
        self.capturedAt = capturedAt
        self.properties = properties
        self.body = body
    }
}

extension Date {
    /// Milliseconds since 1970, the stored form of capture times.
    var millisecondsSince1970: Int64 {
        let value = (timeIntervalSince1970 * 1000).rounded(.down)
        return Int64(exactly: value) ?? (value < 0 ? Int64.min : Int64.max)
    }

    init(millisecondsSince1970 ms: Int64) {
        self.init(timeIntervalSince1970: Double(ms) / 1000)
    }
}
