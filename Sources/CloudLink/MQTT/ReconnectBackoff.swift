/// Reconnect delays: exponential with full jitter and a cap (the retry guidance of Azure's
/// Embedded C SDK).
///
/// Attempt `n` (0 for the first retry after a loss) waits a uniformly random delay in
/// `[0, min(cap, base · 2ⁿ)]`. Full jitter spreads a fleet that lost the hub at the same moment
/// over the whole window, so the devices do not come back as a storm. Call ``reset()`` once a
/// connection is established (CONNACK accepted).
///
/// ## Contract
/// - Pure: the random source is passed in (seed it in tests); nothing sleeps here.
/// - Resolution is one nanosecond; negative `base`/`cap` count as zero; the ceiling saturates at
///   `cap` without overflowing however many attempts there were.
public struct ReconnectBackoff: Sendable, Hashable {
    public let base: Duration
    public let cap: Duration
    /// How many delays were handed out since the last ``reset()``.
    public private(set) var attempt: Int = 0

    public init(base: Duration, cap: Duration) {
        self.base = base
        self.cap = cap
    }

    /// The upper end of the window for attempt `n`: `min(cap, base · 2ⁿ)`.
    public func ceiling(forAttempt n: Int) -> Duration {
        let baseNanoseconds = Self.nanoseconds(base)
        let capNanoseconds = Self.nanoseconds(cap)
        let shift = max(0, n)
        let ceiling: UInt64
        if baseNanoseconds == 0 {
            ceiling = 0
        } else if shift >= 63 || baseNanoseconds > capNanoseconds >> UInt64(shift) {
            ceiling = capNanoseconds
        } else {
            ceiling = baseNanoseconds << UInt64(shift)
        }
        return .nanoseconds(Int64(ceiling))
    }

    /// The delay before the next attempt, drawn uniformly from `[0, ceiling(forAttempt: attempt)]`.
    public mutating func nextDelay(using rng: inout some RandomNumberGenerator) -> Duration {
        let upper = UInt64(max(0, Self.nanoseconds(ceiling(forAttempt: attempt))))
        if attempt < Int.max { attempt += 1 }
        return .nanoseconds(Int64(UInt64.random(in: 0...upper, using: &rng)))
    }

    /// Back to the first window (call after a successful connection).
    public mutating func reset() {
        attempt = 0
    }

    /// Whole nanoseconds, clamped to `0…Int64.max`.
    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let limit = UInt64(Int64.max)
        if overflow || whole > limit { return limit }
        return min(limit, whole + UInt64(max(0, attoseconds) / 1_000_000_000))
    }
}
