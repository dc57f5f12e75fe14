import IoTHub

/// An IoT Hub tier's device-to-cloud limits, per unit (quotas and throttling).
public struct IoTHubTier: Sendable, Hashable {
    public var name: String
    /// Sustained device-to-cloud sends per second per unit.
    public var sendsPerSecondPerUnit: Double
    /// Messages per day per unit, metered in ``meterBytes`` chunks.
    public var messagesPerDayPerUnit: Int
    public var meterBytes: Int

    public init(name: String, sendsPerSecondPerUnit: Double, messagesPerDayPerUnit: Int, meterBytes: Int) {
        self.name = name
        self.sendsPerSecondPerUnit = sendsPerSecondPerUnit
        self.messagesPerDayPerUnit = messagesPerDayPerUnit
        self.meterBytes = meterBytes
    }

    /// S1: 100 sends/s and 400,000 messages of 4 KB a day per unit.
    public static let s1 = IoTHubTier(name: "S1", sendsPerSecondPerUnit: 100, messagesPerDayPerUnit: 400_000,
                                      meterBytes: IoTHubLimits.quotaMeterBytes)
    /// S2: 100 sends/s (at least) and 6,000,000 messages of 4 KB a day per unit.
    public static let s2 = IoTHubTier(name: "S2", sendsPerSecondPerUnit: 100, messagesPerDayPerUnit: 6_000_000,
                                      meterBytes: IoTHubLimits.quotaMeterBytes)
    /// S3: 6,000 sends/s and 300,000,000 messages of 4 KB a day per unit.
    public static let s3 = IoTHubTier(name: "S3", sendsPerSecondPerUnit: 6_000, messagesPerDayPerUnit: 300_000_000,
                                      meterBytes: IoTHubLimits.quotaMeterBytes)
}

/// The hub-wide device-to-cloud throttle and daily quota, as IoT Hub applies them: a send
/// beyond the sustained rate is throttled (IoT Hub answers 429 and, over MQTT, disconnects),
/// and once the day's metered messages are used up every send is refused until midnight UTC
/// (403002). Pure: time comes in.
struct HubQuota: Sendable {
    enum Verdict: Sendable, Equatable {
        case accepted
        case throttled(String)
        case quotaExceeded(String)
    }

    let tier: IoTHubTier
    let units: Int
    private var sends: TokenBucket
    private(set) var day = 0
    /// Metered messages used today.
    private(set) var used = 0

    init(tier: IoTHubTier, units: Int) {
        self.tier = tier
        self.units = max(1, units)
        let rate = tier.sendsPerSecondPerUnit * Double(self.units)
        sends = TokenBucket(rate: rate)
    }

    var dailyLimit: Int { tier.messagesPerDayPerUnit * units }

    /// Meter units a message of `bytes` counts for (at least one).
    func meterUnits(_ bytes: Int) -> Int { max(1, (bytes + tier.meterBytes - 1) / tier.meterBytes) }

    /// One device-to-cloud message of `bytes`, at `now` (monotonic) on UTC day `day`.
    mutating func admit(bytes: Int, now: Duration, day: Int) -> Verdict {
        if day != self.day {
            self.day = day
            used = 0
        }
        let units = meterUnits(bytes)
        guard used + units <= dailyLimit else {
            return .quotaExceeded("the daily quota of \(dailyLimit) messages (\(tier.name) × \(self.units)) is used up (403002 IoTHubQuotaExceeded)")
        }
        guard sends.take(now: now) else {
            let rate = Int(tier.sendsPerSecondPerUnit)
            return .throttled("more than \(rate) × \(self.units) sends per second (\(tier.name)): 429001 ThrottlingException")
        }
        used += units
        return .accepted
    }
}
