#if canImport(Glibc)
import Glibc
#endif
import JSON
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IoTHub
import MQTT
import Synchronization
import SystemCalls

/// One telemetry message as LocalHub logged it: one JSON line in
/// `telemetry/{deviceId}.jsonl` under the state folder.
///
/// `payload` is the body as UTF-8 text when it is valid UTF-8 (`payloadEncoding` `utf8`),
/// else base64 (`base64`): either way ``payloadBytes`` gives back the exact bytes.
public struct TelemetryRecord: Sendable, Hashable, Codable {
    public var deviceId: String
    public var topic: String
    /// The property bag, decoded (`$.mid`, `$.ct`, application properties); a property sent
    /// without a value is `null`.
    public var properties: [String: JSONValue]
    public var payload: String
    public var payloadEncoding: String
    /// Arrival time at the hub, ISO 8601 UTC with milliseconds.
    public var arrivedAt: String
    public var qos: Int

    init(_ message: HubSession.TelemetryMessage, arrivedAt: Date) {
        deviceId = message.deviceID
        topic = message.topic
        var properties: [String: JSONValue] = [:]
        for entry in message.properties.entries { properties[entry.name] = entry.value.map(JSONValue.string) ?? .null }
        self.properties = properties
        if let text = String(validating: message.payload, as: UTF8.self) {
            payload = text
            payloadEncoding = "utf8"
        } else {
            payload = Data(message.payload).base64EncodedString()
            payloadEncoding = "base64"
        }
        self.arrivedAt = arrivedAt.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
        qos = Int(message.qos.rawValue)
    }

    /// The body exactly as the device sent it.
    public var payloadBytes: [UInt8] {
        if payloadEncoding == "base64" { return Data(base64Encoded: payload).map(Array.init) ?? [] }
        return Array(payload.utf8)
    }

    /// The record as one compact JSON line (no newline).
    public func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}

/// Appends telemetry to one JSONL file per device and tells live subscribers (`localhub tail`).
///
/// Contract: thread-safe; a line is written with one `write(2)` on a file opened `O_APPEND`,
/// so lines never interleave; a failed write is counted and reported through ``lastError``,
/// never thrown into the connection that sent the message. Size-capped: a device's file that
/// would pass ``maximumFileBytes`` is rotated to `{deviceId}.jsonl.1` (replacing the previous
/// one), so a device never holds more than twice the cap on disk; ``records(deviceID:)`` reads
/// both, oldest first. Like IoT Hub, it keeps every message it is sent, duplicates included (a
/// device resends what it got no PUBACK for); it counts, per device, the messages whose `$.mid`
/// it saw among that device's last ``duplicateWindow`` messages (for a batch, per reading in it:
/// ``readingIDs(_:)``).
final class TelemetryLog: Sendable {
    struct Subscriber {
        var deviceID: String?
        var deliver: @Sendable (TelemetryRecord) -> Void
    }

    struct State {
        var files: [String: Int32] = [:]
        /// Bytes in each open file.
        var sizes: [String: Int] = [:]
        var subscribers: [UInt64: Subscriber] = [:]
        var nextSubscriber: UInt64 = 0
        var lastError: String?
        var counts: [String: Int] = [:]
        var total = 0
        var recentIDs: [String: RecentIDs] = [:]
        var duplicates: [String: Int] = [:]
    }

    /// The last message ids of one device (bounded).
    struct RecentIDs {
        var set: Set<String> = []
        var order: [String] = []
        var next = 0

        /// Records `id`; true when it was already there.
        mutating func record(_ id: String, window: Int) -> Bool {
            guard set.insert(id).inserted else { return true }
            if order.count < window {
                order.append(id)
            } else {
                set.remove(order[next])
                order[next] = id
                next = (next + 1) % window
            }
            return false
        }
    }

    static let duplicateWindow = 65_536

    let directory: String
    let maximumFileBytes: Int
    private let state = Mutex(State())

    init(directory: String, maximumFileBytes: Int = 64 << 20) throws(HubError) {
        self.directory = directory
        self.maximumFileBytes = max(1, maximumFileBytes)
        do { try POSIX.makeDirectories(directory, mode: 0o755) } catch {
            throw .storage(operation: "creating the telemetry folder", path: directory, reason: error.description)
        }
    }

    deinit {
        state.withLock { state in
            for fd in state.files.values { POSIX.close(fd) }
        }
    }

    func path(for deviceID: String) -> String { directory + "/" + deviceID + ".jsonl" }

    func append(_ record: TelemetryRecord) {
        let line = Array((record.jsonLine() + "\n").utf8)
        let subscribers: [Subscriber] = state.withLock { state in
            state.total += 1
            state.counts[record.deviceId, default: 0] += 1
            for id in Self.readingIDs(record) where state.recentIDs[record.deviceId, default: RecentIDs()].record(id, window: Self.duplicateWindow) {
                state.duplicates[record.deviceId, default: 0] += 1
            }
            do {
                let file = path(for: record.deviceId)
                var size = state.sizes[record.deviceId] ?? 0
                if state.files[record.deviceId] == nil { size = Int((try? POSIX.status(file))?.size ?? 0) }
                if size > 0, size + line.count > maximumFileBytes {
                    if let open = state.files.removeValue(forKey: record.deviceId) { POSIX.close(open) }
                    try POSIX.rename(file, to: file + ".1")
                    size = 0
                }
                let fd: Int32
                if let open = state.files[record.deviceId] {
                    fd = open
                } else {
                    fd = try POSIX.openForAppend(file)
                    state.files[record.deviceId] = fd
                }
                try POSIX.writeAll(fd, line, subject: file)
                state.sizes[record.deviceId] = size + line.count
            } catch {
                state.lastError = "\(path(for: record.deviceId)): \(error)"
            }
            return state.subscribers.values.filter { $0.deviceID == nil || $0.deviceID == record.deviceId }
        }
        for subscriber in subscribers { subscriber.deliver(record) }
    }

    /// The ids duplicates are counted on: the message's `$.mid`, or for a batch (message property
    /// `messageType=batch`) device id + `seq` of each message in it, which is the `$.mid` the
    /// same reading carries when it is sent alone.
    static func readingIDs(_ record: TelemetryRecord) -> [String] {
        struct Batch: Decodable {
            struct Element: Decodable { var seq: UInt64? }
            var messages: [Element]
        }
        if case .string("batch")? = record.properties["messageType"], record.payloadEncoding == "utf8",
           let batch = try? JSONDecoder().decode(Batch.self, from: Data(record.payload.utf8)) {
            return batch.messages.compactMap { $0.seq.map { "\(record.deviceId)-\($0)" } }
        }
        if case .string(let id)? = record.properties["$.mid"] { return [id] }
        return []
    }

    /// Every record kept for `deviceID` (this run and earlier ones, the rotated file first), oldest first.
    func records(deviceID: String) throws(HubError) -> [TelemetryRecord] {
        var bytes: [UInt8] = []
        for file in [path(for: deviceID) + ".1", path(for: deviceID)] {
            do { bytes += try POSIX.readFile(file) } catch {
                if error.errno == ENOENT { continue }
                throw .storage(operation: "reading telemetry", path: file, reason: error.description)
            }
        }
        let decoder = JSONDecoder()
        return bytes.split(separator: UInt8(ascii: "\n")).compactMap { line in
            try? decoder.decode(TelemetryRecord.self, from: Data(line))
        }
    }

    func subscribe(deviceID: String?, _ deliver: @escaping @Sendable (TelemetryRecord) -> Void) -> UInt64 {
        state.withLock { state in
            state.nextSubscriber += 1
            state.subscribers[state.nextSubscriber] = Subscriber(deviceID: deviceID, deliver: deliver)
            return state.nextSubscriber
        }
    }

    func unsubscribe(_ id: UInt64) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }

    var total: Int { state.withLock { $0.total } }
    /// Messages of `deviceID` whose `$.mid` was seen before, since start.
    func duplicates(deviceID: String) -> Int { state.withLock { $0.duplicates[deviceID] ?? 0 } }
    var lastError: String? { state.withLock { $0.lastError } }
}
