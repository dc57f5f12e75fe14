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
