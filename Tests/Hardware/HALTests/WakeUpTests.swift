import Foundation
import HAL
import HALSimulation
import Testing

/// A clock wait that another thread ends early: what lets the sampler sleep a whole send period
/// and still see a new setting or a stop at once, without waking up to poll.
struct WakeUpTests {
    @Test func aPendingRaiseEndsTheNextWaitAtOnceWithoutMovingTheClock() {
        let clock = VirtualClock()
        let wake = WakeUp()
        wake.raise()
        #expect(clock.sleep(for: .seconds(3600), wakeUp: wake))
        #expect(clock.now == .zero)
        // The raise was used up: the next wait runs its full length.
        #expect(!clock.sleep(for: .seconds(5), wakeUp: wake))
        #expect(clock.now == .seconds(5))
    }

    @Test func aRaiseFromAnotherThreadEndsARealWaitEarly() {
        let wake = WakeUp()
        let started = ContinuousClock.now
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.05)
            wake.raise()
        }
        #expect(wake.wait(timeout: .seconds(30)))
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func aWaitWithoutARaiseEndsAtItsTimeout() {
        let wake = WakeUp()
        let started = ContinuousClock.now
        #expect(!wake.wait(timeout: .milliseconds(30)))
        #expect(ContinuousClock.now - started >= .milliseconds(30))
    }

    @Test func aPacedVirtualClockMovesOnlyAsFarAsTheWaitWent() {
        let clock = VirtualClock(timeScale: 1)
        let wake = WakeUp()
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 0.05)
            wake.raise()
        }
        #expect(clock.sleep(for: .seconds(60), wakeUp: wake))
        #expect(clock.now > .zero && clock.now < .seconds(30), "moved \(clock.now)")
    }

    @Test func aPacedBurstWaitsOnceAtItsEnd() {
        // 20 conversion waits of 10 ms inside a burst (a sample of a simulated board at real time):
        // simulated time moves at once, and the burst ends when the wall clock has caught up.
        let clock = VirtualClock(timeScale: 1)
        let wallStart = ContinuousClock.now
        var insideBurst = Duration.zero
        clock.coalescingWaits {
            for _ in 0..<20 { clock.sleep(for: .milliseconds(10)) }
            insideBurst = ContinuousClock.now - wallStart
        }
        let wholeBurst = ContinuousClock.now - wallStart
        #expect(clock.now == .milliseconds(200))
        #expect(insideBurst < .milliseconds(150), "the sleeps waited: \(insideBurst)")
        #expect(wholeBurst >= .milliseconds(200), "the burst ended before its wall time: \(wholeBurst)")
    }
}
