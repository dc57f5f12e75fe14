/// A token bucket that paces the drain of a backlog: at most `rate` messages per second on
/// average, at most `burst` at once. Pure: it never reads a clock or sleeps; the caller passes
/// the current instant (any `InstantProtocol` with `Duration` steps, e.g. `ContinuousClock.Instant`).
///
/// ## Use
/// ```swift
/// let n = pacer.available(at: clock.now)           // how many may go now
/// let batch = outbox.peek(limit: n, after: cursor) // oldest first
/// pacer.consume(batch.count, at: clock.now)
/// try await clock.sleep(for: pacer.delay(until: 1, at: clock.now))
/// ```
/// Live readings do not go through the pacer: only the backlog is paced, so they keep flowing.
public struct DrainPacer<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// Messages per second, on average.
    public let rate: Double
    /// Tokens the bucket holds at most: how many messages may go back to back.
    public let burst: Int
    private var tokens: Double
    private var updated: Instant

    /// Starts with a full bucket at `now`.
    ///
    /// - Throws: ``OutboxError/Code/invalidConfiguration`` when `rate` is not a positive finite
    ///   number or `burst` is below 1.
    public init(rate: Double, burst: Int, now: Instant) throws(OutboxError) {
        guard rate.isFinite, rate > 0 else {
            throw OutboxError(.invalidConfiguration, "drain rate is \(rate) messages/s; give a positive number (e.g. 50)")
        }
        guard burst >= 1 else {
            throw OutboxError(.invalidConfiguration, "drain burst is \(burst); give at least 1")
        }
        self.rate = rate
        self.burst = burst
        tokens = Double(burst)
        updated = now
    }

    private mutating func refill(at now: Instant) {
        guard now > updated else { return }   // a clock that goes back adds nothing
        let elapsed = updated.duration(to: now)
        let (seconds, attoseconds) = elapsed.components
        tokens = min(Double(burst), tokens + (Double(seconds) + Double(attoseconds) / 1e18) * rate)
        updated = now
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
        let missing = Double(min(count, burst)) - copy.tokens
        guard missing > 0 else { return .zero }
        let nanoseconds = (missing / rate * 1e9).rounded(.up)
        return .nanoseconds(Int64(min(nanoseconds, 9e18)))
    }
}
