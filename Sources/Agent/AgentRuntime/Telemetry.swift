import JSON
import SensorCore

/// Aggregate of one channel over a send period.
public struct ChannelAggregate: Codable, Equatable, Sendable {
    public var avg: Double
    public var min: Double
    public var max: Double
    public var count: Int
    public var unit: String
    /// The calibration that corrected these readings (`offset -0.40`, `two-point 20.10→20.00
    /// 80.30→79.50`; the last one in the period); absent when uncalibrated.
    public var calibration: String?
}

/// Health of one sensor in a telemetry message.
public struct SensorHealth: Codable, Equatable, Sendable {
    public var chip: String
    public var status: String
    /// Readings that could not be taken in the period (the sensor failed).
    public var unavailable: Int
    public var error: String?
}

/// One telemetry message (schema: `firmware-interface/telemetry.v1.schema.json`). Top-level
/// environment values are the period averages of the first sensor in the board file that
/// measured that channel; `readings` has every sensor's aggregates.
public struct TelemetryMessage: Codable, Equatable, Sendable {
    public var deviceId: String
    /// Monotonic per device; with the device id it lets the hub drop duplicates.
    public var seq: UInt64
    /// Capture time of the end of the period, ISO 8601 UTC.
    public var timestamp: String
    public var periodSeconds: Double
    public var temperature: Double?
    public var humidity: Double?
    public var pressure: Double?
    /// Vibration RMS in g, the period average of the first sensor measuring it: a number at the
    /// top level, so the edge-analytics recipe's `AnomalyDetection_SpikeAndDip(vibration, …)` runs on it.
    public var vibration: Double?
    /// The period's largest vibration peak of that sensor, in g.
    public var vibrationPeak: Double?
    public var readings: [String: [String: ChannelAggregate]]
    /// Per sensor (board-file name), its health in the period. Not `sensors`: that name is the
    /// reported property of the same model (DTDL names are unique per interface).
    public var sensorHealth: [String: SensorHealth]
    /// `false` when the wall clock was not synchronised at capture (`timestamp` may be far off:
    /// a board without a battery-backed clock before NTP); absent otherwise.
    public var clockSynchronised: Bool?
}

/// Collects readings over a send period and turns them into a message.
public struct TelemetryWindow: Sendable {
    private var values: [String: [Channel: [Double]]] = [:]
    private var unavailable: [String: Int] = [:]
    private var calibrations: [String: [Channel: String]] = [:]
    /// Sensor names in board order, for choosing top-level values.
    private let order: [String]

    public init(sensorOrder: [String]) {
        order = sensorOrder
    }

    public var isEmpty: Bool { values.isEmpty && unavailable.isEmpty }

    public mutating func add(_ readings: [Reading]) {
        var failedSensors = Set<String>()
        for reading in readings {
            if let value = reading.value, reading.quality != .unavailable {
                values[reading.sensor, default: [:]][reading.channel, default: []].append(value.value)
                calibrations[reading.sensor, default: [:]][reading.channel] = reading.calibration
            } else {
                failedSensors.insert(reading.sensor)
            }
        }
        for sensor in failedSensors { unavailable[sensor, default: 0] += 1 }
    }

    public func message(deviceID: String, seq: UInt64, timestamp: String, period: Duration,
                        chips: [String: String], statuses: [String: String], errors: [String: String]) -> TelemetryMessage {
        var readings: [String: [String: ChannelAggregate]] = [:]
        for (sensor, channels) in values {
            for (channel, series) in channels where !series.isEmpty {
                readings[sensor, default: [:]][channel.rawValue] = ChannelAggregate(
                    avg: channel.rounded(series.reduce(0, +) / Double(series.count)),
                    min: channel.rounded(series.min() ?? 0), max: channel.rounded(series.max() ?? 0),
                    count: series.count, unit: channel.unit.rawValue, calibration: calibrations[sensor]?[channel])
            }
        }
        func first(_ channel: Channel) -> Double? {
            order.lazy.compactMap { readings[$0]?[channel.rawValue]?.avg }.first
        }
        let peak = order.lazy.compactMap { readings[$0]?[Channel.vibrationPeak.rawValue]?.max }.first
        var sensors: [String: SensorHealth] = [:]
        for name in order {
            sensors[name] = SensorHealth(chip: chips[name] ?? "?", status: statuses[name] ?? "unknown",
                                         unavailable: unavailable[name] ?? 0, error: errors[name])
        }
        return TelemetryMessage(deviceId: deviceID, seq: seq, timestamp: timestamp, periodSeconds: period.seconds,
                                temperature: first(.temperature), humidity: first(.humidity), pressure: first(.pressure),
                                vibration: first(.vibrationRMS), vibrationPeak: peak, readings: readings, sensorHealth: sensors)
    }
}

/// The heartbeat (message property `messageType: heartbeat`), in every upstream mode: the agent
/// is alive, and a summary of its health (schema: `firmware-interface/heartbeat.v1.schema.json`;
/// the full answer is the `getHealth` method).
public struct HeartbeatMessage: Codable, Equatable, Sendable {
    public var messageType = "heartbeat"
    public var deviceId: String
    public var seq: UInt64
    public var timestamp: String
    public var uptimeSeconds: Double
    /// Whether the board's alarm line is high, and why (empty: it is low).
    public var alarm: Bool
    public var alarmReasons: [String]
    /// Spike alerts raised since start.
    public var alertCount: Int
    /// Sensors whose last reading failed, by board-file name.
    public var failedSensors: [String]
    public var clockSynchronised: Bool?
}

extension TelemetryMessage {
    /// The message's JSON body: the bytes `JSONEncoder` writes for it with `.sortedKeys` and
    /// `.withoutEscapingSlashes` (TelemetryJSONTests compares the two), written member by member
    /// in key order. With one message per sample, `JSONEncoder` cost more than sampling the
    /// simulated board. A value that is not finite is written `null` (`JSONEncoder` fails the
    /// whole message).
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(sortingKeys: true, capacity: 2_048)
        func member(_ name: String, _ value: Double?) {
            if let value { w.key(name); w.write(value) }
        }
        func member(_ name: String, _ value: String?) {
            if let value { w.key(name); w.write(value) }
        }
        // Keys in String order, as .sortedKeys writes them.
        w.beginObject()
        if let clockSynchronised { w.key("clockSynchronised"); w.write(clockSynchronised) }
        member("deviceId", deviceId)
        member("humidity", humidity)
        member("periodSeconds", periodSeconds)
        member("pressure", pressure)
        w.key("readings")
        w.beginObject()
        for sensor in readings.keys.sorted() {
            w.key(sensor)
            w.beginObject()
            let channels = readings[sensor] ?? [:]
            for channel in channels.keys.sorted() {
                guard let a = channels[channel] else { continue }
                w.key(channel)
                w.beginObject()
                member("avg", a.avg)
                member("calibration", a.calibration)
                w.key("count"); w.write(Int64(a.count))
                member("max", a.max)
                member("min", a.min)
                member("unit", a.unit)
                w.endObject()
            }
            w.endObject()
        }
        w.endObject()
        w.key("sensorHealth")
        w.beginObject()
        for sensor in sensorHealth.keys.sorted() {
            guard let h = sensorHealth[sensor] else { continue }
            w.key(sensor)
            w.beginObject()
            member("chip", h.chip)
            member("error", h.error)
            member("status", h.status)
            w.key("unavailable"); w.write(Int64(h.unavailable))
            w.endObject()
        }
        w.endObject()
        w.key("seq"); w.write(Int64(clamping: seq))
        member("temperature", temperature)
        member("timestamp", timestamp)
        member("vibration", vibration)
        member("vibrationPeak", vibrationPeak)
        w.endObject()
        return w.bytes
    }
}
