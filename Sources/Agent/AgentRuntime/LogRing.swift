import FoundationEssentials
import Logging
import Synchronization

/// The agent's recent log lines in memory, for `getLogs` and the support bundle: a ring bounded
/// by bytes (the oldest lines go first), fed by ``RingLogHandler`` beside the stderr handler.
public final class LogRing: Sendable {
    public struct Entry: Sendable, Equatable {
        public var date: Date
        public var level: Logger.Level
        /// `2026-12-03T15:04:05.123Z notice [feature=hub] message`
        public var line: String
    }

    /// At most this many bytes of lines are kept.
    public let capacity: Int
    struct State {
        var entries: [Entry] = []
        /// Index of the oldest entry once the array is used as a ring (entries.count stays bounded by bytes).
        var head = 0
        var bytes = 0
        var dropped = 0
    }
    let state = Mutex(State())
    /// A longer message is cut (with a marker): one line never takes the whole ring.
    public static let maximumLineBytes = 2048

    public init(capacity: Int = 256 << 10) {
        self.capacity = max(capacity, Self.maximumLineBytes)
    }

    public func append(date: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) {
        var line = "\(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))) \(level)"
        if !metadata.isEmpty {
            line += " [" + metadata.sorted(by: { $0.key < $1.key }).map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
        }
        line += " " + message
        if line.utf8.count > Self.maximumLineBytes {
            line = String(decoding: line.utf8.prefix(Self.maximumLineBytes - 3), as: UTF8.self) + "…"
        }
        let entry = Entry(date: date, level: level, line: line)
        state.withLock { s in
            s.entries.append(entry)
            s.bytes += line.utf8.count + 1
            while s.bytes > capacity, s.head < s.entries.count {
                s.bytes -= s.entries[s.head].line.utf8.count + 1
                s.head += 1
                s.dropped += 1
            }
            // Compact now and then, so the array holds about the ring and no more.
            if s.head > 1024, s.head * 2 > s.entries.count {
                s.entries.removeFirst(s.head)
                s.head = 0
            }
        }
    }

    /// When the oldest line the ring still holds was logged (nil: it holds none). Anything the
    /// process logged before it is gone from the ring (the journal may have it).
    public var oldest: Date? {
        state.withLock { $0.head < $0.entries.count ? $0.entries[$0.head].date : nil }
    }

    /// What `getLogs` answers: the newest lines at or above `level` since `since`, oldest first,
    /// as many as fit in `maxBytes` (each counted with its newline).
    public struct Excerpt: Sendable, Equatable {
        public var lines: [String]
        /// Matching lines left out because they did not fit.
        public var omitted: Int
        /// Lines the ring had already dropped (older than what it holds).
        public var droppedByRing: Int
    }

    public func excerpt(since: Date? = nil, level: Logger.Level = .trace, maxBytes: Int) -> Excerpt {
        let (entries, dropped) = state.withLock { (Array($0.entries[$0.head...]), $0.dropped) }
        var picked: [String] = []
        var used = 0
        var omitted = 0
        for entry in entries.reversed() where entry.level >= level && since.map({ entry.date >= $0 }) ?? true {
            let size = entry.line.utf8.count + 1
            if omitted == 0, used + size <= maxBytes {
                picked.append(entry.line)
                used += size
            } else {
                omitted += 1
            }
        }
        return Excerpt(lines: picked.reversed(), omitted: omitted, droppedByRing: dropped)
    }
}

/// A swift-log handler that tees every message at or above its level into a ``LogRing``.
public struct RingLogHandler: LogHandler {
    public let ring: LogRing
    public let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let now: @Sendable () -> Date

    public init(label: String, ring: LogRing, level: Logger.Level, now: @escaping @Sendable () -> Date = { Date() }) {
        self.label = label
        self.ring = ring
        logLevel = level
        self.now = now
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        ring.append(date: now(), level: event.level, label: label, message: "\(event.message)",
                    metadata: metadata.merging(event.metadata ?? [:]) { $1 })
    }
}
