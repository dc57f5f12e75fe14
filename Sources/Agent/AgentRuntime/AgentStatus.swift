import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import JSON
import Outbox
import SensorCore
import SystemCalls

/// What `fieldagent status` shows: the running agent writes it to `status.json` in its runtime
/// directory (``directory(runtime:state:environment:)``: RAM under systemd, so the SD card is not
/// worn) when it changes, at most once a second, and at least every 10 s (temporary file +
/// rename, so a reader never sees half of it; no fsync: it is a runtime view, the state that
/// matters is in the outbox and the settings store).
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

    /// This device's use of the hub's daily message quota today (UTC day).
    public struct Quota: Codable, Equatable, Sendable {
        /// The UTC day, `YYYY-MM-DD`.
        public var day: String
        /// Hub messages acknowledged today (a batch counts once).
        public var messages: Int
        /// The 4 KB units IoT Hub meters them in.
        public var units: Int
        /// `hub.daily_quota`, when configured.
        public var dailyQuota: Int?
        /// `units / dailyQuota`, when configured.
        public var fractionUsed: Double?

        public init(_ meter: HubQuotaMeter, dailyQuota: Int?) {
            day = meter.dayText
            messages = meter.messages
            units = meter.units
            self.dailyQuota = dailyQuota
            fractionUsed = dailyQuota.map { Double(meter.units) / Double(max(1, $0)) }
        }

        /// `263 message(s), 9852 units of 4 KB (2.5 % of 400000)`.
        public var text: String {
            let fraction = fractionUsed.map { " (\(formatFixed($0 * 100, digits: 1)) % of \(dailyQuota ?? 0))" } ?? ""
            return "\(messages) message(s), \(units) unit(s) of 4 KB\(fraction) on \(day) (UTC)"
        }
    }

    /// One sensor of the board as the last telemetry message saw it.
    public struct Sensor: Codable, Equatable, Sendable {
        public var name: String
        public var chip: String
        /// `ok`, `degraded`, `failed` or `unknown` (before the first message).
        public var status: String
        public var error: String?
        /// Channel → the average over the last send period.
        public var readings: [String: Reading]

        public init(name: String, chip: String, status: String, error: String? = nil, readings: [String: Reading] = [:]) {
            self.name = name
            self.chip = chip
            self.status = status
            self.error = error
            self.readings = readings
        }
    }

    public struct Reading: Codable, Equatable, Sendable {
        public var value: Double
        public var unit: String

        public init(value: Double, unit: String) {
            self.value = value
            self.unit = unit
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
    /// The model id on the last spike verdict: which model the predictor serves (it changes with a
    /// hot swap), or the fallback detector's id (absent before the first verdict and in older files).
    public var detectorModel: String?
    /// The wall clock: `waiting for synchronisation (12 s of 120 s)`, `synchronised (…)`,
    /// `unsynchronised (…)` or `simulated time` (absent in files from older agents).
    public var clock: String?
    /// The board's sensors in board order (absent in files from older agents).
    public var sensors: [Sensor]?
    /// The hub's daily quota used today (absent without a hub, and in files from older agents).
    public var quota: Quota?
    /// DPS: the assigned hub, when, the issued certificate's expiry, a failure with its fix
    /// (absent without provisioning, and in files from older agents).
    public var provisioning: String?

    public init(pid: Int32, deviceID: String, board: String, updated: Date, link: String, lastError: String? = nil, twin: String,
                settings: [String: JSONValue], sent: Int, outbox: Outbox? = nil, route: String, detector: String? = nil,
                clock: String? = nil, sensors: [Sensor]? = nil, detectorModel: String? = nil, quota: Quota? = nil) {
        (self.pid, self.deviceID, self.board, self.updated, self.link, self.lastError, self.twin) =
            (pid, deviceID, board, updated, link, lastError, twin)
        (self.settings, self.sent, self.outbox, self.route, self.detector, self.clock, self.sensors) =
            (settings, sent, outbox, route, detector, clock, sensors)
        self.detectorModel = detectorModel
        self.quota = quota
    }

    /// ``provisioning``'s line: `hub.example as dev-1 (assigned 2026-12-05 07:00:00 UTC; issued certificate expires …)`.
    public static func provisioningText(record: ProvisioningRecord, running: Bool, lastError: String?) -> String {
        var text = "\(record.assignedHub) as \(record.deviceID) (assigned \(record.at)"
        if let notAfter = record.issuedNotAfter { text += "; issued certificate expires \(notAfter)" }
        text += ")"
        if running { text += "; asking DPS again" }
        if let lastError { text += "; provisioning again failed: \(lastError)" }
        return text
    }

    public static func path(in directory: String) -> String { directory + "/status.json" }

    /// Where systemd's `RuntimeDirectory=fieldagent` puts the runtime directory.
    public static let defaultRuntimeDirectory = "/run/fieldagent"

    /// Where the agent writes `status.json`: the `runtime_dir` setting, else `$RUNTIME_DIRECTORY`
    /// (set by systemd's `RuntimeDirectory=`), else the state directory (a run by hand); nil:
    /// none of them, nothing is written.
    public static func directory(runtime: String?, state: String?, environment: [String: String]) -> String? {
        runtime ?? environment["RUNTIME_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 } ?? state
    }

    /// Where `fieldagent status` and the doctor look, in order: where the agent would write it,
    /// then systemd's runtime directory, then the default state directory.
    public static func searchDirectories(runtime: String?, state: String?, environment: [String: String]) -> [String] {
        if let runtime { return [runtime] }
        let candidates = [directory(runtime: nil, state: nil, environment: environment), defaultRuntimeDirectory,
                          state ?? StateDirectory.defaultPath].compactMap { $0 }
        var found: [String] = []
        for candidate in candidates where !found.contains(candidate) { found.append(candidate) }
        return found
    }

    /// The first status found in ``searchDirectories(runtime:state:environment:)``, with its directory.
    public static func find(runtime: String?, state: String?, environment: [String: String]) -> (status: AgentStatus?, searched: [String], directory: String?) {
        let directories = searchDirectories(runtime: runtime, state: state, environment: environment)
        for directory in directories {
            if let status = read(from: directory) { return (status, directories, directory) }
        }
        return (nil, directories, nil)
    }

    /// One line for the service manager's STATUS (what `systemctl status` shows).
    public var summary: String {
        var parts = ["link \(link)", "\(sent) sent"]
        if let outbox { parts.append("outbox \(outbox.depth) waiting") }
        if let sensors {
            let failing = sensors.filter { $0.status != "ok" && $0.status != "unknown" }
            parts.append(failing.isEmpty ? "sensors ok" : "sensors: " + failing.map { "\($0.name) \($0.status)" }.joined(separator: ", "))
        }
        return parts.joined(separator: ", ")
    }

    /// The JSON of `status.json` (nil: it could not be encoded).
    public func encoded() -> [UInt8]? { (try? Self.encoder.encode(self)).map(Array.init) }

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
