/// A rate limit as IoT Hub throttles: `rate` operations per second on average, bursts of up to
/// `burst`. Pure: time comes in as `now` (any monotonic base).
struct TokenBucket: Sendable {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var last: Duration?

    init(rate: Double, burst: Double? = nil) {
        self.rate = rate
        self.burst = max(1, burst ?? rate)
        tokens = self.burst
    }

    /// Takes one token if there is one.
    mutating func take(now: Duration) -> Bool {
        if let last, now > last {
            let (seconds, attoseconds) = (now - last).components
            tokens = min(burst, tokens + (Double(seconds) + Double(attoseconds) / 1e18) * rate)
        }
        last = max(last ?? now, now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
