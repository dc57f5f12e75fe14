import HAL
import SystemCalls
import Synchronization

/// A clock that moves only when told to: `sleep(for:)` advances it at once, so drivers that wait
/// for a conversion cost no wall time and a simulated day runs in seconds.
///
/// With a `timeScale` above zero, `sleep` also waits for the wall time the duration stands for,
/// so a simulated board in the demo runs at a watchable pace (1 = real time, 60 = a minute a
/// second). The pace is kept against the wall clock from the clock's creation: a sleep ends at
/// the wall instant its simulated end stands for, so the time spent working between sleeps (and
/// a sleep's own overshoot) does not make simulated time fall further and further behind.
public final class VirtualClock: HALClock {
    private let current: Mutex<Duration>
    public let timeScale: Double
    /// The wall instant simulated time `origin.simulated` stands for (paced clocks only).
    private let origin: (wall: ContinuousClock.Instant, simulated: Duration)

    public init(start: Duration = .zero, timeScale: Double = 0) {
        current = Mutex(start)
        self.timeScale = timeScale
        origin = (ContinuousClock.now, start)
    }

    public var now: Duration { current.withLock { $0 } }

    /// Wall time left until simulated time `simulated` is due (paced clocks).
    private func wallTimeUntil(_ simulated: Duration) -> Duration {
        ContinuousClock.now.duration(to: origin.wall + (simulated - origin.simulated) / timeScale)
    }

    public func sleep(for duration: Duration) {
        advance(by: duration)
        if timeScale > 0, duration > .zero {
            let left = wallTimeUntil(now)
            if left > .zero { POSIX.sleep(for: left) }
        }
    }

    /// Paced (`timeScale` above zero): waits until the wall time the end of the duration stands
    /// for, ended early by a raise, and moves simulated time only as far as the wall clock went.
    /// Unpaced: at once.
    public func sleep(for duration: Duration, wakeUp: WakeUp) -> Bool {
        guard timeScale > 0, duration > .zero else {
            if wakeUp.consume() { return true }
            advance(by: duration)
            return wakeUp.consume()
        }
        let target = now + duration
        let left = wallTimeUntil(target)
        let woken = left > .zero ? wakeUp.wait(timeout: left) : wakeUp.consume()
        if woken {
            let reached = origin.simulated + (ContinuousClock.now - origin.wall) * timeScale
            advance(to: min(target, reached))
        } else {
            advance(to: target)
        }
        return woken
    }

    public func advance(by duration: Duration) {
        guard duration > .zero else { return }
        current.withLock { $0 += duration }
    }

    /// Moves to `time` if it is in the future.
    public func advance(to time: Duration) {
        current.withLock { $0 = max($0, time) }
    }
}
