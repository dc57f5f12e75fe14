import Foundation
import Yams

/// Where readings go: straight to the hub, or through the co-located spike predictor.
public enum Route: String, Sendable, CaseIterable, Codable {
    case hub
    case predictor
}

/// `agent.yaml`: the settings `fieldagent run` also takes as flags (flags override the file).
/// Every field is optional here; what a run needs is checked when the flags are merged in.
///
/// ```yaml
/// board: boards/sim-factory-line.yaml      # relative paths are relative to this file
/// device_id: factory-line-01
/// state_dir: /var/lib/fieldagent
/// send_frequency: 30s
/// route: hub                               # or predictor
/// hub: { host: localhost, port: 8883, cert: device.pem, key: device.key, ca: ca.pem, model_id: "dtmi:…;1" }
/// predictor: { socket: /run/fieldagent/predictor.sock, deadline: 50ms }
/// outbox: { quota: 64MB, max_age: 7d, drain_rate: 50 }
/// ```
public struct AgentConfig: Sendable, Equatable {
    public struct Hub: Sendable, Equatable {
        public var host: String?
        public var port: UInt16?
        public var cert: String?
        public var key: String?
        public var ca: String?
        public var modelID: String?
        public var expectedHostName: String?
        public init() {}
    }

    public struct Predictor: Sendable, Equatable {
        public var socket: String?
        public var deadline: Duration?
        public init() {}
    }

    public struct Outbox: Sendable, Equatable {
        public var quotaBytes: Int?
        public var maximumAge: Duration?
        /// Backlog messages per second after a reconnect.
        public var drainRate: Double?
        public init() {}
    }

    public var path: String
    public var board: String?
    public var deviceID: String?
    public var stateDirectory: String?
    public var sendFrequency: Duration?
    public var route: Route?
    public var logLevel: String?
    public var hub = Hub()
    public var predictor = Predictor()
    public var outbox = Outbox()

    public init(path: String) { self.path = path }

    public static let sendFrequencyRange: ClosedRange<Duration> = .seconds(1) ... .seconds(86400)

    public static func load(path: String) throws(ConfigIssues) -> AgentConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigIssues([ConfigIssue(file: path, field: "-", message: "cannot read the file (does it exist, and may this user read it?)")])
        }
        return try parse(text, path: path)
    }

    /// Parses the whole file and reports every problem at once.
    public static func parse(_ text: String, path: String) throws(ConfigIssues) -> AgentConfig {
        let reader = NodeReader(file: path)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigIssues([ConfigIssue(file: path, field: "-", message: "not valid YAML: \(error)")])
        }
        var config = AgentConfig(path: path)
        guard let root else { return config }
        guard let top = reader.mapping(root, "(top level)", keys: ["board", "device_id", "state_dir", "send_frequency", "route",
                                                                  "log_level", "hub", "predictor", "outbox"]) else {
            throw ConfigIssues(reader.issues)
        }
        let base = directory(of: path)
        config.board = reader.string(top["board"], "board").map { resolve($0, against: base) }
        config.deviceID = reader.string(top["device_id"], "device_id")
        if let id = config.deviceID, !isValidDeviceID(id) {
            reader.issue(top["device_id"], "device_id", "'\(id)' is not a valid IoT Hub device id: use up to 128 ASCII letters, digits and - . : _")
        }
        config.stateDirectory = reader.string(top["state_dir"], "state_dir").map { resolve($0, against: base) }
        config.sendFrequency = reader.duration(top["send_frequency"], "send_frequency", range: sendFrequencyRange)
        if let text = reader.string(top["route"], "route") {
            config.route = Route(rawValue: text)
            if config.route == nil { reader.issue(top["route"], "route", "'\(text)' is not a route; expected hub or predictor") }
        }
        if let level = reader.string(top["log_level"], "log_level") {
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            if levels.contains(level) { config.logLevel = level } else {
                reader.issue(top["log_level"], "log_level", "'\(level)' is not a log level; expected one of \(levels.joined(separator: ", "))")
            }
        }
        if let node = top["hub"], let hub = reader.mapping(node, "hub", keys: ["host", "port", "cert", "key", "ca", "model_id", "expected_host_name"]) {
            config.hub.host = reader.string(hub["host"], "hub.host")
            config.hub.port = reader.int(hub["port"], "hub.port", range: 1...65535).map { UInt16($0) }
            config.hub.cert = reader.string(hub["cert"], "hub.cert").map { resolve($0, against: base) }
            config.hub.key = reader.string(hub["key"], "hub.key").map { resolve($0, against: base) }
            config.hub.ca = reader.string(hub["ca"], "hub.ca").map { resolve($0, against: base) }
            config.hub.modelID = reader.string(hub["model_id"], "hub.model_id")
            config.hub.expectedHostName = reader.string(hub["expected_host_name"], "hub.expected_host_name")
        }
        if let node = top["predictor"], let predictor = reader.mapping(node, "predictor", keys: ["socket", "deadline"]) {
            config.predictor.socket = reader.string(predictor["socket"], "predictor.socket").map { resolve($0, against: base) }
            config.predictor.deadline = reader.duration(predictor["deadline"], "predictor.deadline", range: .milliseconds(1) ... .seconds(10))
        }
        if let node = top["outbox"], let outbox = reader.mapping(node, "outbox", keys: ["quota", "max_age", "drain_rate"]) {
            if let text = reader.string(outbox["quota"], "outbox.quota") {
                if let bytes = parseByteSize(text), bytes >= 64 * 1024 { config.outbox.quotaBytes = bytes } else {
                    reader.issue(outbox["quota"], "outbox.quota", "'\(text)' is not a size of at least 64KB; write e.g. 512KB, 64MB or 1GB")
                }
            }
            config.outbox.maximumAge = reader.duration(outbox["max_age"], "outbox.max_age", range: .seconds(60) ... .seconds(366 * 86400))
            config.outbox.drainRate = reader.double(outbox["drain_rate"], "outbox.drain_rate", range: 0.1...10_000)
        }
        guard reader.issues.isEmpty else { throw ConfigIssues(reader.issues) }
        return config
    }

    /// "512KB", "64MB", "1GB", "1048576" (bytes; powers of 1024).
    public static func parseByteSize(_ text: String) -> Int? {
        let units: [(String, Int)] = [("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("B", 1)]
        let upper = text.uppercased().replacingOccurrences(of: " ", with: "")
        for (suffix, factor) in units where upper.hasSuffix(suffix) {
            guard let number = Double(upper.dropLast(suffix.count)), number > 0, number * Double(factor) < 1e15 else { return nil }
            return Int(number * Double(factor))
        }
        return Int(upper).flatMap { $0 > 0 ? $0 : nil }
    }

    /// IoT Hub device ids: up to 128 characters of ASCII letters, digits and `- . : _` (and a few more
    /// the hub allows; these are the ones FieldAgent accepts).
    public static func isValidDeviceID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.unicodeScalars.allSatisfy {
            $0.isASCII && (($0.properties.isAlphabetic) || ("0"..."9").contains($0) || "-.:_".unicodeScalars.contains($0))
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    static func resolve(_ path: String, against base: String) -> String {
        path.hasPrefix("/") || base == "." ? path : base + "/" + path
    }
}
