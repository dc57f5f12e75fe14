import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSON
import Outbox
import SystemCalls

/// What `fieldagent status` shows: the running agent writes it to `status.json` in its state
/// directory when it changes, and at least every 10 s (temporary file + rename, so a reader
/// never sees half of it; no fsync: it is a runtime view, the state that matters is in the
/// outbox and the settings store).
public struct AgentStatus: Codable, Equatable, Sendable {
    public struct Outbox: Codable, Equatable, Sendable {
        public var mode: String
        public var depth: Int
        public var bytes: Int
        public var oldestAgeSeconds: Double?
        public var droppedAggregates: UInt64
        public var droppedAlerts: UInt64
        public var droppedUnreadable: UInt64
        public var nextSequence: UInt64

        public init(mode: String, depth: Int, bytes: Int, oldestAgeSeconds: Double?, droppedAggregates: UInt64,
                    droppedAlerts: UInt64, droppedUnreadable: UInt64, nextSequence: UInt64) {
            self.mode = mode
            self.depth = depth
            self.bytes = bytes
            self.oldestAgeSeconds = oldestAgeSeconds
            self.droppedAggregates = droppedAggregates
            self.droppedAlerts = droppedAlerts
            self.droppedUnreadable = droppedUnreadable
            self.nextSequence = nextSequence
        }

        public init(_ stats: OutboxStatistics) {
            self.init(mode: stats.durabilityProblem.map { "\(stats.mode), LESS DURABLE: \($0)" } ?? "\(stats.mode)", depth: stats.depth, bytes: stats.bytes,
                      oldestAgeSeconds: stats.oldestAge.map { Double($0.components.seconds) },
                      droppedAggregates: stats.drops.aggregates, droppedAlerts: stats.drops.alerts,
                      droppedUnreadable: stats.drops.unreadable, nextSequence: stats.nextSequence)
        }
    }

    public var pid: Int32
    public var deviceID: String
    public var board: String
    public var updated: Date
    public var link: String
    public var lastError: String?
    public var twin: String
    public var settings: [String: JSONValue]
    public var sent: Int
    public var outbox: Outbox?
    public var route: String
    public var detector: String?
    /// The wall clock: `waiting for synchronisation (12 s of 120 s)`, `synchronised (…)`,
    /// `unsynchronised (…)` or `simulated time` (absent in files from older agents).
    public var clock: String?

    public static func path(in directory: String) -> String { directory + "/status.json" }

    public func write(to directory: String) -> Bool {
        guard let data = try? Self.encoder.encode(self) else { return false }
        return (try? POSIX.writeFileAtomically(Self.path(in: directory), Array(data), mode: 0o644)) != nil
    }

    /// What the file says apart from its time stamp (what a change is judged by).
    var content: [UInt8] {
        var timeless = self
        timeless.updated = Date(timeIntervalSince1970: 0)
        return (try? Self.encoder.encode(timeless)).map(Array.init) ?? []
    }

    private static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static func read(from directory: String) -> AgentStatus? {
        guard let data = FileManager.default.contents(atPath: path(in: directory)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(AgentStatus.self, from: data)
    }

    /// Whether the process that wrote this is still there.
    public var processAlive: Bool { kill(pid, 0) == 0 || errno == EPERM }
}
