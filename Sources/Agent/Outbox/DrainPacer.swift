/// Paces the drain of a backlog with a rate that adapts to the hub (additive increase,
/// multiplicative decrease): a token bucket at ``rate`` messages per second, where the rate
/// climbs by ``Adaptation/increasePerSecond`` for each second in which acknowledgements come back
/// fast, is cut by ``Adaptation/decreaseFactor`` when one comes back slower than
/// ``Adaptation/slowAcknowledgement`` or the hub throttles (a throttling disconnect), and stays
/// between ``floor`` and ``ceiling`` (the configured `outbox.drain_rate`). After a throttle it
/// climbs back only to just under the rate the hub throttled (for a minute, then slowly on). It starts at the
/// ceiling. Pure: it never reads a clock or sleeps; the caller passes the current instant (any
/// `InstantProtocol` with `Duration` steps, e.g. `ContinuousClock.Instant`).
///
/// ## Use
/// ```swift
/// let n = pacer.available(at: clock.now)           // how many may go now
/// let batch = outbox.peek(limit: n, after: cursor) // oldest first
/// pacer.consume(batch.count, at: clock.now)
/// try await clock.sleep(for: pacer.delay(until: 1, at: clock.now))
/// pacer.acknowledged(latency: ackLatency, at: clock.now)   // or pacer.throttled(at:)
/// ```
/// Live readings do not go through the pacer: only the backlog is paced, so they keep flowing.
public struct DrainPacer<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// How the rate follows the hub.
    public struct Adaptation: Sendable, Equatable {
        /// An acknowledgement later than this (from handing the message to the link) slows the drain.
        public var slowAcknowledgement: Duration = .seconds(2)
        /// Messages per second added per second of fast acknowledgements (nil: a tenth of the ceiling).
        public var increasePerSecond: Double?
        /// What a slow acknowledgement or a throttling signal multiplies the rate by.
        public var decreaseFactor = 0.5
        /// After a decrease, further slow signals are ignored this long: the messages already in
        /// flight were sent at the old rate and say nothing about the new one.
        public var holdAfterDecrease: Duration = .seconds(2)
        /// After the hub throttled at a rate, the climb stops at this fraction of that rate ...
        public var settleBelowThrottle = 0.9
        /// ... for this long; then it probes upward again at a tenth of the usual step, so the
        /// drain settles just under the hub's limit instead of being throttled every few seconds.
        public var probeAfterThrottle: Duration = .seconds(60)

        public init() {}
    }

    /// The highest rate (messages per second): the configured drain rate.
    public let ceiling: Double
    /// The lowest rate a decrease reaches (1 message per second, or the ceiling if lower).
    public let floor: Double
    /// Messages per second now.
    public private(set) var rate: Double
    public let adaptation: Adaptation
    private let burstAtCeiling: Int
    private var tokens: Double
    private var updated: Instant
    private var lastIncrease: Instant
    private var lastDecrease: Instant?
    /// The rate the hub last throttled at, and when.
    private var lastThrottle: (rate: Double, at: Instant)?
    /// Decreases so far (slow acknowledgements and throttling signals that counted).
    public private(set) var decreases = 0

    /// Starts at the ceiling `rate` with a full bucket at `now`.
    ///
    /// - Throws: ``OutboxError/Code/invalidConfiguration`` when `rate` is not a positive finite
    ///   number or `burst` is below 1.
    public init(rate: Double, burst: Int, now: Instant, adaptation: Adaptation = Adaptation()) throws(OutboxError) {
        guard rate.isFinite, rate > 0 else {
            throw OutboxError(.invalidConfiguration, "drain rate is \(rate) messages/s; give a positive number (e.g. 50)")
        }
        guard burst >= 1 else {
            throw OutboxError(.invalidConfiguration, "drain burst is \(burst); give at least 1")
        }
        ceiling = rate
        floor = min(rate, 1)
        self.rate = rate
        self.adaptation = adaptation
        burstAtCeiling = burst
        tokens = Double(burst)
        updated = now
        lastIncrease = now
    }

    /// Tokens the bucket holds at most: how many messages may go back to back (the configured
    /// burst at the ceiling, less in proportion at a lower rate).
    public var burst: Int {
        max(1, Int((Double(burstAtCeiling) * rate / ceiling).rounded(.up)))
    }

    private mutating func refill(at now: Instant) {
        guard now > updated else { return }   // a clock that goes back adds nothing
        tokens = min(Double(burst), tokens + Self.seconds(updated.duration(to: now)) * rate)
        updated = now
    }

    public static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Starts over at `now` with a full bucket (the rate is kept): after a hold in which no
    /// message went, so the time held does not count as tokens beyond the burst either way.
    public mutating func restart(at now: Instant) {
        tokens = Double(burst)
        updated = now
        lastIncrease = now
    }

    /// How many messages may be sent at `now` (whole tokens in the bucket).
    public func available(at now: Instant) -> Int {
        var copy = self
        copy.refill(at: now)
        return Int(max(0, copy.tokens).rounded(.down))
    }

    /// Takes `count` tokens (the messages just sent). Taking more than are there leaves a debt
    /// that the next refills pay first, so the average rate still holds.
    public mutating func consume(_ count: Int, at now: Instant) {
        refill(at: now)
        tokens -= Double(count)
    }

    /// Takes one token if there is one.
    public mutating func tryAcquire(at now: Instant) -> Bool {
        refill(at: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// How long from `now` until `count` messages may go (zero if they may go now).
    public func delay(until count: Int, at now: Instant) -> Duration {
        var copy = self
        copy.refill(at: now)
        let missing = Double(min(count, copy.burst)) - copy.tokens
        guard missing > 0 else { return .zero }
        let nanoseconds = (missing / rate * 1e9).rounded(.up)
        return .nanoseconds(Int64(min(nanoseconds, 9e18)))
    }

    /// The hub acknowledged a message `latency` after it was handed to the link: a fast one
    /// raises the rate (at most once a second), a slow one cuts it.
    public mutating func acknowledged(latency: Duration, at now: Instant) {
        guard latency <= adaptation.slowAcknowledgement else { return decrease(at: now) }
        let elapsed = lastIncrease.duration(to: now)
        guard elapsed >= .seconds(1) else { return }
        refill(at: now)
        var step = adaptation.increasePerSecond ?? ceiling / 10
        var limit = ceiling
        if let throttle = lastThrottle {
            if throttle.at.duration(to: now) < adaptation.probeAfterThrottle {
                limit = min(ceiling, max(floor, throttle.rate * adaptation.settleBelowThrottle))
            } else {
                step /= 10
            }
        }
        rate = max(rate, min(limit, rate + step * min(Self.seconds(elapsed), 10)))
        lastIncrease = now
    }

    /// The hub throttled the device (a throttling disconnect, a 429): cut the rate, and empty
    /// the bucket, because the hub's is empty too: after a reconnect the drain starts at the new
    /// rate instead of with a burst that the hub throttles again at once.
    ///
    /// Each throttling signal counts (there is no hold as for slow acknowledgements: each is a
    /// separate connection the hub closed, and what it resent is paced at the new rate), and the
    /// climb afterwards stays under the rate it came at (``Adaptation/settleBelowThrottle``).
    public mutating func throttled(at now: Instant) {
        lastThrottle = (rate, now)
        decrease(at: now, hold: false)
        tokens = min(tokens, 0)
    }

    /// Messages that went without asking the pacer (those in flight, sent again after a
    /// reconnect) still count against the rate: they are taken from the bucket, as a debt if
    /// it is empty.
    public mutating func sentAgain(_ count: Int, at now: Instant) {
        consume(count, at: now)
    }

    private mutating func decrease(at now: Instant, hold: Bool = true) {
        if hold, let last = lastDecrease, last.duration(to: now) < adaptation.holdAfterDecrease { return }
        refill(at: now)
        rate = max(floor, rate * adaptation.decreaseFactor)
        tokens = min(tokens, Double(burst))
        lastDecrease = now
        lastIncrease = now
        decreases += 1
    }
}
