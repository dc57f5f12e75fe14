import Boards
import FoundationEssentials
import HAL
import HALSimulation
import JSON
import Logging
import Outbox
import SensorCore

/// Remote support by direct method: `getLogs` answers from the in-memory ``LogRing``, and
/// under systemd with older lines from the journal (``JournalSource``);
/// `getSupportBundle` gathers what a support engineer asks for first (status, the configuration
/// with secrets redacted, outbox statistics, the doctor's report, a register image of each chip
/// that has a register map, recent log lines), within a size bound: sections that do not fit are
/// named in `omitted`, never cut mid-way (the log lines shrink to what is left).
final class SupportFeature: Feature {
    struct Configuration: Sendable {
        var agentVersion: String
        /// nil: logs are not kept in memory.
        var ring: LogRing?
        /// Where older lines are, or why there are none (getLogs answers 409 with neither).
        var journal: Result<JournalSource, JournalSource.Unavailable> = .failure(.init(reason: "not configured"))
        /// The configuration in force, redacted (``AgentConfig/redactedValues``).
        var settings: [String: String]
    }

    let name = "support"
    let configuration: Configuration
    let board: Board
    let status: StatusFeature
    let diagnostics: DiagnosticsFeature

    /// What a direct method's answer may hold (IoT Hub takes up to 128 KB; JSON framing aside).
    static let maximumBytes = 100_000
    static let defaultLogBytes = 16 << 10
    static let defaultBundleBytes = 64 << 10
    static let minimumBytes = 1024

    init(configuration: Configuration, board: Board, status: StatusFeature, diagnostics: DiagnosticsFeature) {
        self.configuration = configuration
        self.board = board
        self.status = status
        self.diagnostics = diagnostics
    }

    var methods: [DirectMethod] {
        [DirectMethod(name: "getLogs", handle: getLogs), DirectMethod(name: "getSupportBundle", handle: getSupportBundle)]
    }

    // MARK: getLogs

    /// `{"since": ISO 8601, "level": "warning", "maxBytes": N}`, each optional.
    func getLogs(_ payload: [UInt8]) -> MethodResult {
        let request: JSONValue
        switch Self.request(payload) {
        case .success(let value): request = value
        case .failure(let refusal): return refusal.answer
        }
        var since: Date?
        if let value = request["since"] {
            guard case .string(let text) = value, text.utf8.count <= 64,
                  let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: text.contains("."))) else {
                return .error(400, "since must be an ISO 8601 time such as \"2026-12-03T15:04:05Z\", got \(value.description.prefix(64))")
            }
            since = date
        }
        var level = Logger.Level.trace
        if let value = request["level"] {
            guard case .string(let text) = value, let parsed = Logger.Level(rawValue: text) else {
                return .error(400, "level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), got \(value.description.prefix(64))")
            }
            level = parsed
        }
        let maxBytes: Int
        switch Self.maxBytes(request, default: Self.defaultLogBytes) {
        case .success(let n): maxBytes = n
        case .failure(let refusal): return refusal.answer
        }
        let ring = configuration.ring
        if ring == nil, case .failure(let absent) = configuration.journal {
            return .error(409, "this agent keeps no log lines in memory and has no journal to read (\(absent.reason)); read them with journalctl -u fieldagent on the device")
        }
        // Room for the other members and the journal's note.
        let budget = maxBytes - 384
        var excerpt = ring.map { Self.fitting($0, since: since, level: level, maxBytes: budget) } ?? LogRing.Excerpt(lines: [], omitted: 0, droppedByRing: 0)
        // The journal is read for what is older than the ring's oldest line (the ring has the
        // rest, so no line is answered twice), and only while there is room left.
        var journalLines: [String] = []
        let note: String
        let before = ring?.oldest
        switch configuration.journal {
        case .failure(let absent):
            note = "absent: \(absent.reason)"
        case .success(let journal):
            if excerpt.omitted > 0 {
                note = "not read: the ring's lines filled maxBytes"
            } else if let since, let before, since >= before {
                note = "not read: the ring holds every line since \(since.formatted(Date.ISO8601FormatStyle()))"
            } else {
                let read = journal.read(since: since, before: before, level: level)
                note = read.note
                var left = budget - JSONValue.array(excerpt.lines.map(JSONValue.string)).encoded().count
                var full = false
                for entry in read.entries.reversed() {
                    let size = JSONValue.string(entry.line).encoded().count + 1
                    full = full || size > left
                    if !full {
                        journalLines.append(entry.line)
                        left -= size
                    } else {
                        excerpt.omitted += 1
                    }
                }
                journalLines.reverse()
            }
        }
        return .ok(.object(["lines": .array((journalLines + excerpt.lines).map(JSONValue.string)), "omitted": .integer(Int64(excerpt.omitted)),
                            "droppedByRing": .integer(Int64(excerpt.droppedByRing)), "journalLines": .integer(Int64(journalLines.count)),
                            "journal": .string(String(note.prefix(256)))]))
    }

    /// The newest lines whose JSON (escapes included) fits in `maxBytes`.
    static func fitting(_ ring: LogRing, since: Date?, level: Logger.Level, maxBytes: Int) -> LogRing.Excerpt {
        var budget = max(0, maxBytes)
        while true {
            var excerpt = ring.excerpt(since: since, level: level, maxBytes: budget)
            let encoded = JSONValue.array(excerpt.lines.map(JSONValue.string)).encoded().count
            if encoded <= maxBytes || excerpt.lines.isEmpty { return excerpt }
            // Escapes made it longer than counted: drop the oldest lines until it fits.
            budget -= encoded - maxBytes
            if budget <= 0 {
                excerpt.omitted += excerpt.lines.count
                excerpt.lines = []
                return excerpt
            }
        }
    }

    // MARK: getSupportBundle

    /// `{"maxBytes": N}` (optional, 1024…100000, default 65536).
    func getSupportBundle(_ payload: [UInt8]) -> MethodResult {
        let request: JSONValue
        switch Self.request(payload) {
        case .success(let value): request = value
        case .failure(let refusal): return refusal.answer
        }
        let maxBytes: Int
        switch Self.maxBytes(request, default: Self.defaultBundleBytes) {
        case .success(let n): maxBytes = n
        case .failure(let refusal): return refusal.answer
        }
        // The doctor and the register images use the board's drivers: only between two samples,
        // on the sampling thread, and one such run at a time (as runDiagnostics).
        guard let bundle = diagnostics.samplingSide.run({ [self] in bundle(maxBytes: maxBytes) }) else {
            return .error(409, "a diagnostics run is already in progress; try again when it has answered")
        }
        return .ok(bundle)
    }

    /// The bundle, whose encoding is at most `maxBytes` long.
    func bundle(maxBytes: Int) -> JSONValue {
        var fields: JSONObject = [
            "agentVersion": .string(configuration.agentVersion),
            "board": .string(board.file.name),
            "deviceId": .string(board.file.deviceID),
            "generated": .string(Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))),
        ]
        var omitted: [String] = []
        // Most useful first; each section is built only when asked for.
        let sections: [(String, () -> JSONValue?)] = [
            ("status", { [status] in status.status().encoded().flatMap { try? JSONValue.parse($0) } }),
            ("configuration", { [configuration] in .object(configuration.settings.mapValues(JSONValue.string)) }),
            ("outbox", { [status] in status.link?.outbox.map { Self.outboxSection($0.statistics) } }),
            ("doctor", { [diagnostics] in diagnostics.reportJSON().flatMap { try? JSONValue.parse($0) } }),
            ("registers", { [self] in .object(registerImages()) }),
        ]
        func size(_ object: JSONObject, omitted: [String]) -> Int {
            var whole = object
            whole["omitted"] = .array(omitted.map(JSONValue.string))
            return JSONValue.object(whole).encoded().count
        }
        for (name, build) in sections {
            guard let value = build() else { continue }
            var candidate = fields
            candidate[name] = value
            // Room for this section's name in `omitted` is kept, in case a later one is left out.
            if size(candidate, omitted: omitted + ["logs", "registers"]) <= maxBytes {
                fields = candidate
            } else {
                omitted.append(name)
            }
        }
        if let ring = configuration.ring {
            let left = maxBytes - size(fields, omitted: omitted + ["logs"]) - 32
            let excerpt = left > 0 ? Self.fitting(ring, since: nil, level: .trace, maxBytes: left) : nil
            if let excerpt, !excerpt.lines.isEmpty {
                fields["logs"] = .array(excerpt.lines.map(JSONValue.string))
            } else {
                omitted.append("logs")
            }
        }
        fields["omitted"] = .array(omitted.map(JSONValue.string))
        return .object(fields)
    }

    static func outboxSection(_ stats: OutboxStatistics) -> JSONValue {
        let outbox = AgentStatus.Outbox(stats)
        return .object([
            "mode": .string(outbox.mode), "depth": .integer(Int64(outbox.depth)), "bytes": .integer(Int64(outbox.bytes)),
            "oldestAgeSeconds": outbox.oldestAgeSeconds.map(JSONValue.number) ?? .null,
            "droppedAggregates": .integer(Int64(outbox.droppedAggregates)), "droppedAlerts": .integer(Int64(outbox.droppedAlerts)),
            "droppedUnreadable": .integer(Int64(outbox.droppedUnreadable)), "nextSequence": .integer(Int64(outbox.nextSequence)),
        ])
    }

    /// Sensor name → the `i2cdump`-style text of its chip's register map (16 bytes a read; a
    /// failed read leaves its row `XX` and says why).
    func registerImages() -> [String: JSONValue] {
        var images: [String: JSONValue] = [:]
        for sensor in board.sensors {
            guard let range = sensor.chip.kind.descriptor.registerImage else { continue }
            var bytes = [UInt8?](repeating: nil, count: 256)
            var failures: [String] = []
            var start = Int(range.lowerBound)
            while start <= Int(range.upperBound) {
                let count = min(16 - start % 16, Int(range.upperBound) - start + 1)
                do {
                    let read = try sensor.bus.writeRead(sensor.chip.address, [UInt8(start)], count: count)
                    for (offset, byte) in read.prefix(count).enumerated() { bytes[start + offset] = byte }
                } catch {
                    if failures.count < 4 { failures.append("0x\(String(start, radix: 16)): \(error)") }
                }
                start += count
            }
            var image: [String: JSONValue] = [
                "chip": .string(sensor.chip.kind.name), "bus": .string(sensor.busName),
                "address": .string(sensor.chip.address.description), "i2cdump": .string(I2CDump(bytes: bytes).text),
            ]
            if !failures.isEmpty { image["errors"] = .array(failures.map(JSONValue.string)) }
            images[sensor.chip.name] = .object(image)
        }
        return images
    }

    // MARK: Requests

    /// A request answered with an error before any work.
    struct Refusal: Error {
        var answer: MethodResult
        init(_ answer: MethodResult) { self.answer = answer }
    }

    static func request(_ payload: [UInt8]) -> Result<JSONValue, Refusal> {
        if payload.isEmpty { return .success(.object([:])) }
        guard let value = try? JSONValue.parse(payload) else {
            return .failure(Refusal(.error(400, "the payload must be a JSON object, got \(String(decoding: payload.prefix(40), as: UTF8.self))")))
        }
        switch value {
        case .object: return .success(value)
        case .null: return .success(.object([:]))
        default: return .failure(Refusal(.error(400, "the payload must be a JSON object, got \(value.kind)")))
        }
    }

    static func maxBytes(_ request: JSONValue, default fallback: Int) -> Result<Int, Refusal> {
        guard let value = request["maxBytes"] else { return .success(fallback) }
        guard let n = value.intValue, (minimumBytes...maximumBytes).contains(n) else {
            return .failure(Refusal(.error(400, "maxBytes must be an integer from \(minimumBytes) to \(maximumBytes), got \(value.description.prefix(40))")))
        }
        return .success(n)
    }
}
