import MQTT
import TestSupport
import Testing

@Suite struct ReconnectBackoffTests {
    @Test func ceilingDoublesUpToTheCap() {
        let backoff = ReconnectBackoff(base: .seconds(1), cap: .seconds(60))
        let ceilings = (0..<9).map { backoff.ceiling(forAttempt: $0) }
        #expect(ceilings == [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(32),
                             .seconds(60), .seconds(60), .seconds(60)])
        #expect(backoff.ceiling(forAttempt: 10_000) == .seconds(60))
        #expect(ReconnectBackoff(base: .milliseconds(1500), cap: .seconds(5)).ceiling(forAttempt: 1) == .seconds(3))
    }

    @Test func delaysStayInTheFullJitterWindow() {
        var rng = SeededGenerator(seed: 42)
        var backoff = ReconnectBackoff(base: .milliseconds(500), cap: .seconds(30))
        for n in 0..<40 {
            let delay = backoff.nextDelay(using: &rng)
            let upper = min(Duration.seconds(30), .milliseconds(500) * (n < 20 ? 1 << n : 1 << 20))
            #expect(delay >= .zero && delay <= upper, "attempt \(n): \(delay) not in [0, \(upper)]")
        }
        #expect(backoff.attempt == 40)
    }

    @Test func jitterSpreadsOverTheWholeWindow() {
        // Full jitter, not "ceiling plus a little": over many draws at the cap, delays reach both
        // ends of [0, cap] (what keeps a fleet from reconnecting in lockstep).
        var rng = SeededGenerator(seed: 7)
        var backoff = ReconnectBackoff(base: .seconds(1), cap: .seconds(10))
        for _ in 0..<5 { _ = backoff.nextDelay(using: &rng) }
        var delays: [Duration] = []
        for _ in 0..<500 { delays.append(backoff.nextDelay(using: &rng)) }
        let low = delays.filter { $0 < .seconds(1) }.count
        let high = delays.filter { $0 > .seconds(9) }.count
        #expect(low > 20 && high > 20, "low \(low), high \(high)")
        #expect(delays.allSatisfy { $0 <= .seconds(10) })
    }

    @Test func sameSeedSameDelays() {
        func run() -> [Duration] {
            var rng = SeededGenerator(seed: 2024)
            var backoff = ReconnectBackoff(base: .seconds(1), cap: .seconds(100))
            return (0..<10).map { _ in backoff.nextDelay(using: &rng) }
        }
        #expect(run() == run())
    }

    @Test func resetStartsOver() {
        var rng = SeededGenerator(seed: 1)
        var backoff = ReconnectBackoff(base: .seconds(2), cap: .seconds(60))
        for _ in 0..<6 { _ = backoff.nextDelay(using: &rng) }
        backoff.reset()
        #expect(backoff.attempt == 0)
        #expect(backoff.nextDelay(using: &rng) <= .seconds(2))
    }

    @Test func degenerateInputs() {
        var rng = SeededGenerator(seed: 3)
        var zero = ReconnectBackoff(base: .zero, cap: .seconds(10))
        #expect(zero.nextDelay(using: &rng) == .zero)
        var negative = ReconnectBackoff(base: .seconds(-1), cap: .seconds(-5))
        #expect(negative.nextDelay(using: &rng) == .zero)
        let capBelowBase = ReconnectBackoff(base: .seconds(10), cap: .seconds(3))
        #expect(capBelowBase.ceiling(forAttempt: 0) == .seconds(3))
    }
}
