import FoundationEssentials
import IoTHub

/// What this device used today of IoT Hub's daily message quota: messages the hub acknowledged
/// and the 4 KB units IoT Hub meters them in (a message counts one unit per started 4 KB of body
/// and properties), per UTC day. Pure: the time comes in.
public struct HubQuotaMeter: Sendable, Equatable {
    /// Days since 1970-01-01 (UTC) the counts are for.
    public private(set) var day: Int64
    public private(set) var messages = 0
    public private(set) var units = 0

    public init(at date: Date) {
        day = Self.day(of: date)
    }

    /// The UTC day `date` falls on, as days since 1970-01-01.
    public static func day(of date: Date) -> Int64 {
        let days = (date.timeIntervalSince1970 / 86_400).rounded(.down)
        return Int64(exactly: days) ?? 0
    }

    /// Units of `IoTHubLimits.quotaMeterBytes` (4 KB) a message of `bytes` counts for (at least one).
    public static func units(_ bytes: Int) -> Int {
        max(1, (bytes + IoTHubLimits.quotaMeterBytes - 1) / IoTHubLimits.quotaMeterBytes)
    }

    /// One acknowledged message of `bytes` (body + properties) at `date`; a new UTC day starts from zero.
    public mutating func record(bytes: Int, at date: Date) {
        roll(to: date)
        messages += 1
        units += Self.units(bytes)
    }

    /// The counts as of `date` (zero once its UTC day is past).
    public func reading(at date: Date) -> HubQuotaMeter {
        var copy = self
        copy.roll(to: date)
        return copy
    }

    private mutating func roll(to date: Date) {
        let today = Self.day(of: date)
        guard today > day else { return }   // a clock stepped back stays on the later day
        day = today
        messages = 0
        units = 0
    }

    /// The day as `YYYY-MM-DD`.
    public var dayText: String {
        String(Date(timeIntervalSince1970: Double(day) * 86_400).formatted(Date.ISO8601FormatStyle()).prefix(10))
    }
}
