@testable import Outbox
import Testing

@Suite struct DrainPacerTests {
    let start = ContinuousClock.now

    @Test func aFullBucketAllowsTheBurstThenTheRate() throws {
        var pacer = try DrainPacer(rate: 10, burst: 5, now: start)
        #expect(pacer.available(at: start) == 5)
        pacer.consume(5, at: start)
        #expect(pacer.available(at: start) == 0)
        #expect(pacer.delay(until: 1, at: start) == .milliseconds(100))
        #expect(pacer.available(at: start + .milliseconds(250)) == 2)
        // Refill stops at the burst, however long the pause.
        #expect(pacer.available(at: start + .seconds(3600)) == 5)
    }

    @Test func drainingABacklogKeepsToTheRateOverTime() throws {
        var pacer = try DrainPacer(rate: 50, burst: 10, now: start)
        var now = start
        var sent = 0
        // A simulated minute of a drain loop that sends whatever it may and waits as told.
        while now < start + .seconds(60) {
            let batch = pacer.available(at: now)
            sent += batch
            pacer.consume(batch, at: now)
            now += max(pacer.delay(until: 1, at: now), .milliseconds(1))
        }
        #expect(sent <= 50 * 60 + 10)
        #expect(sent >= 50 * 60 - 1)
    }

    @Test func overdrawnTokensArePaidBackBeforeMoreMayGo() throws {
        var pacer = try DrainPacer(rate: 1, burst: 2, now: start)
        pacer.consume(4, at: start)   // 2 in debt
        let early = pacer.tryAcquire(at: start + .seconds(2))
        let paidBack = pacer.tryAcquire(at: start + .seconds(3))
        #expect(!early)
        #expect(paidBack)
        #expect(pacer.delay(until: 5, at: start + .seconds(3)) == .seconds(2))   // capped at the burst
    }

    @Test func nonsenseSettingsAreRefused() {
        #expect(throws: OutboxError.self) { _ = try DrainPacer(rate: 0, burst: 1, now: start) }
        #expect(throws: OutboxError.self) { _ = try DrainPacer(rate: .infinity, burst: 1, now: start) }
        #expect(throws: OutboxError.self) { _ = try DrainPacer(rate: 5, burst: 0, now: start) }
    }
}

/// The adaptive rate (issue 19): additive increase on fast acknowledgements, multiplicative
/// decrease on slow ones or a throttling signal, between the floor and the configured ceiling.
@Suite struct AdaptiveDrainPacerTests {
    let start = ContinuousClock.now

    @Test func aThrottlingSignalHalvesTheRateAndTheClimbSettlesJustUnderTheRateThrottled() throws {
        var pacer = try DrainPacer(rate: 50, burst: 50, now: start)
        #expect(pacer.rate == 50, "it starts at the ceiling")
        pacer.throttled(at: start + .seconds(1))
        #expect(pacer.rate == 25)
        #expect(pacer.burst == 25, "the bucket shrinks with the rate")
        #expect(pacer.available(at: start + .seconds(1)) == 0, "the hub's bucket is empty: so is ours")
        // Fast acknowledgements, one every 100 ms: +5 messages/s (a tenth of the ceiling) per second.
        var now = start + .seconds(1)
        var rates: [Double] = []
        for _ in 0..<1_000 {
            now += .milliseconds(100)
            pacer.acknowledged(latency: .milliseconds(40), at: now)
            rates.append(pacer.rate)
        }
        #expect(rates[9] == 30, "one second of fast acknowledgements: 25 + 5")
        #expect(rates[19] == 35)
        // Throttled at 50/s: the climb stops at 45/s (0.9 × 50) for a minute ...
        #expect(rates[99] == 45)
        #expect(rates[589] == 45, "59 s after the throttle")
        // ... then probes on at a tenth of the step (0.5/s per second) and reaches the ceiling.
        #expect(rates[619] > 45 && rates[619] < 47)
        #expect(rates.last == 50, "never above the ceiling")
        #expect(rates == rates.sorted(), "only up while acknowledgements are fast")
    }

    @Test func everyThrottlingDisconnectCountsAndTheClimbStaysUnderTheLastOne() throws {
        // A ceiling of 400/s against a hub that throttles above 100/s: each connection the hub
        // closes halves the rate (no hold), until it is under the hub's limit; the climb then stops
        // at 0.9 × the last rate throttled.
        var pacer = try DrainPacer(rate: 400, burst: 400, now: start)
        pacer.throttled(at: start)
        pacer.throttled(at: start + .milliseconds(300))
        pacer.throttled(at: start + .milliseconds(600))
        #expect(pacer.rate == 50)
        #expect(pacer.decreases == 3)
        var now = start + .milliseconds(600)
        for _ in 0..<300 {
            now += .milliseconds(100)
            pacer.acknowledged(latency: .milliseconds(20), at: now)
        }
        #expect(pacer.rate == 90, "30 s later: settled at 0.9 × 100")
        // Resending what was in flight after a reconnect takes tokens like any send.
        let available = pacer.available(at: now)
        pacer.sentAgain(20, at: now)
        #expect(pacer.available(at: now) == max(0, available - 20))
    }

    @Test func slowAcknowledgementsCutTheRateOncePerHoldDownToTheFloor() throws {
        var pacer = try DrainPacer(rate: 40, burst: 40, now: start)
        // A window of slow acknowledgements arriving together counts once.
        for i in 0..<20 { pacer.acknowledged(latency: .seconds(3), at: start + .milliseconds(i)) }
        #expect(pacer.rate == 20)
        #expect(pacer.decreases == 1)
        // Slow for a minute: halved every 2 s hold until the floor of 1 message/s.
        var now = start
        for _ in 0..<60 {
            now += .seconds(1)
            pacer.acknowledged(latency: .seconds(5), at: now)
        }
        #expect(pacer.rate == 1)
        #expect(pacer.floor == 1)
    }

    @Test func theBucketFollowsTheCurrentRate() throws {
        var pacer = try DrainPacer(rate: 100, burst: 100, now: start)
        pacer.consume(100, at: start)
        pacer.throttled(at: start)
        pacer.throttled(at: start + .seconds(2))   // after the hold: 25/s
        #expect(pacer.rate == 25)
        let later = start + .seconds(2)
        // 100 were taken at start and 2 s refilled at the old rates; from here on 25/s, bucket 25.
        #expect(pacer.available(at: later + .seconds(10)) == 25)
        #expect(pacer.delay(until: 1, at: later) <= .milliseconds(40))
    }
}
