import Configuration
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import JSON

/// The edge-analytics recipe's fleet alerts on one machine (`localhub watch`): too few devices
/// connected (its `ConnectedDeviceCount < 2`), or a connected device silent longer than
/// `silentFactor` × the period it reported. Pure: devices in, problems out.
public enum FleetWatch {
    /// One registered device as the hub sees it now.
    public struct Device: Sendable, Equatable {
        public var deviceID: String
        public var connected: Bool
        /// Since its last message (or since it connected, if none yet); nil when not connected.
        public var silentFor: Duration?
        /// How often it said it sends (``reportedPeriod(_:)``); nil when it has not said.
        public var reportedSendPeriod: Duration?

        public init(deviceID: String, connected: Bool, silentFor: Duration?, reportedSendPeriod: Duration?) {
            self.deviceID = deviceID
            self.connected = connected
            self.silentFor = silentFor
            self.reportedSendPeriod = reportedSendPeriod
        }
    }

    public struct Rules: Sendable, Equatable {
        public var minimumDevices: Int
        public var silentFactor: Double
        /// The period assumed for a device that has not reported one (the agent's default).
        public var defaultPeriod: Duration

        public init(minimumDevices: Int, silentFactor: Double = 3, defaultPeriod: Duration = .seconds(30)) {
            self.minimumDevices = minimumDevices
            self.silentFactor = silentFactor
            self.defaultPeriod = defaultPeriod
        }
    }

    /// One problem: what it is about (`devices` for the count, else the device id) and a line a person reads.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var subject: String
        public var description: String
    }

    /// Every problem now; empty when all is well.
    public static func problems(_ devices: [Device], rules: Rules) -> [Problem] {
        var problems: [Problem] = []
        let connected = devices.filter(\.connected)
        if connected.count < rules.minimumDevices {
            problems.append(Problem(subject: "devices", description: "\(connected.count) device\(connected.count == 1 ? "" : "s") connected, fewer than \(rules.minimumDevices)"
                + (connected.isEmpty ? "" : " (\(connected.map(\.deviceID).joined(separator: ", ")))")))
        }
        for device in connected {
            guard let silent = device.silentFor else { continue }
            let period = device.reportedSendPeriod ?? rules.defaultPeriod
            let limit = period * rules.silentFactor
            if silent > limit {
                problems.append(Problem(subject: device.deviceID, description: "\(device.deviceID) silent for \(DurationText.format(rounded(silent))), longer than "
                    + "\(formatFactor(rules.silentFactor)) × its period \(DurationText.format(period))"
                    + (device.reportedSendPeriod == nil ? " (assumed; it reported none)" : "")))
            }
        }
        return problems
    }

    /// The period a device's reported properties say it sends at: its heartbeat interval (a
    /// read-only property) when it sends only alerts upstream, else its send period (the
    /// acknowledged `value`).
    public static func reportedPeriod(_ reported: [String: JSONValue]) -> Duration? {
        func value(_ key: String) -> Duration? {
            guard case .string(let text)? = reported[key]?["value"] ?? reported[key] else { return nil }
            return try? DurationText.parse(text)
        }
        if case .string("alerts-only")? = reported["upstream"]?["value"] { return value("heartbeatInterval") }
        return value("sendFrequency")
    }

    static func rounded(_ duration: Duration) -> Duration { .seconds(duration.components.seconds) }

    static func formatFactor(_ factor: Double) -> String {
        factor == factor.rounded() ? String(Int(factor)) : String(factor)
    }
}

extension FleetWatch.Device {
    /// As the admin socket's `liveness` answer carries it (durations in milliseconds, null when absent).
    public var json: JSONValue {
        func milliseconds(_ duration: Duration?) -> JSONValue {
            duration.map { .integer($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000) } ?? .null
        }
        return .object(["deviceId": .string(deviceID), "connected": .bool(connected),
                        "silentMilliseconds": milliseconds(silentFor), "periodMilliseconds": milliseconds(reportedSendPeriod)])
    }

    public init?(json: JSONValue) {
        guard case .string(let id)? = json["deviceId"], case .bool(let connected)? = json["connected"] else { return nil }
        self.init(deviceID: id, connected: connected,
                  silentFor: json["silentMilliseconds"]?.intValue.map { .milliseconds($0) },
                  reportedSendPeriod: json["periodMilliseconds"]?.intValue.map { .milliseconds($0) })
    }
}
