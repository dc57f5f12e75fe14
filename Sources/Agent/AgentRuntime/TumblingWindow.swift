import FoundationEssentials
import SensorCore

/// One tumbling window's aggregates (message property `messageType: aggregate`; schema
/// `firmware-interface/aggregate.v1.schema.json`): per sensor and channel the average, minimum,
/// maximum and count of every sample captured in [windowStart, windowEnd), the edge-analytics
/// recipe's `TumblingWindow(minute, 5)` computed on the device.
public struct WindowAggregate: Codable, Equatable, Sendable {
    public var messageType = "aggregate"
    public var deviceId: String
    public var seq: UInt64
    /// The window's wall-clock boundaries, ISO 8601 UTC.
    public var windowStart: String
    public var windowEnd: String
    public var windowSeconds: Double
    /// True for a window the agent did not see from its start (it started, or the window
    /// setting changed, inside it).
    public var partial: Bool?
    public var readings: [String: [String: ChannelAggregate]]
    public var clockSynchronised: Bool?
}

/// Tumbling windows on wall-clock boundaries: a sample stamped `t` belongs to the window
/// starting at ⌊t / width⌋ × width (UTC), so 5-minute windows start at :00, :05, … whenever the
/// agent started. Running sums only: memory is bounded by sensors × channels, not by samples.
public struct TumblingWindow: Sendable {
    struct Running: Sendable {
        var sum = 0.0
        var min = Double.infinity
        var max = -Double.infinity
        var count = 0
    }

    public private(set) var width: Duration
    private var start: Date?
    private var partial = false
    /// Whether a sample was seen yet (the first window is partial: the agent started inside it).
    private var started = false
    private var running: [String: [Channel: Running]] = [:]

    public init(width: Duration) { self.width = width }

    /// Where the window holding `date` starts.
    public static func boundary(of date: Date, width: Duration) -> Date {
        let seconds = Double(width.components.seconds) + Double(width.components.attoseconds) / 1e18
        return Date(timeIntervalSince1970: (date.timeIntervalSince1970 / seconds).rounded(.down) * seconds)
    }

    /// Adds one sample's readings captured at `date`; returns the window it closed, if the sample
    /// falls in a later one (a window without readings is not sent). A new `width` closes the
    /// window in progress.
    public mutating func add(_ readings: [Reading], at date: Date, width: Duration, deviceID: String) -> WindowAggregate? {
        let boundary = Self.boundary(of: date, width: width)
        var closed: WindowAggregate?
        if let start, boundary != start || width != self.width {
            closed = finish(deviceID: deviceID)
            // Entered by crossing a boundary at the same width: seen from its start.
            partial = width != self.width
            self.start = nil
        }
        if start == nil {
            if !started { partial = true }
            started = true
            self.width = width
            start = boundary
        }
        for reading in readings {
            guard let value = reading.value?.value, reading.quality != .unavailable else { continue }
            var r = running[reading.sensor, default: [:]][reading.channel, default: Running()]
            r.sum += value
            r.min = Swift.min(r.min, value)
            r.max = Swift.max(r.max, value)
            r.count += 1
            running[reading.sensor, default: [:]][reading.channel] = r
        }
        return closed
    }

    /// The window in progress as a message (nil when it has no readings); starts the next one empty.
    mutating func finish(deviceID: String) -> WindowAggregate? {
        defer { running = [:] }
        guard let start, !running.isEmpty else { return nil }
        var readings: [String: [String: ChannelAggregate]] = [:]
        for (sensor, channels) in running {
            for (channel, r) in channels where r.count > 0 {
                readings[sensor, default: [:]][channel.rawValue] = ChannelAggregate(
                    avg: channel.rounded(r.sum / Double(r.count)), min: channel.rounded(r.min), max: channel.rounded(r.max),
                    count: r.count, unit: channel.unit.rawValue)
            }
        }
        let seconds = Double(width.components.seconds) + Double(width.components.attoseconds) / 1e18
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        return WindowAggregate(deviceId: deviceID, seq: 0, windowStart: start.formatted(style),
                               windowEnd: start.addingTimeInterval(seconds).formatted(style), windowSeconds: seconds,
                               partial: partial ? true : nil, readings: readings)
    }
}
