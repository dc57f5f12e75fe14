import HAL
import SystemCalls
import Synchronization

/// A clock that moves only when told to: `sleep(for:)` advances it at once, so drivers that wait
/// for a conversion cost no wall time and a simulated day runs in seconds.
///
/// With a `timeScale` above zero, `sleep` also waits for the wall time the duration stands for,
/// so a simulated board in the demo runs at a watchable pace (1 = real time, 60 = a minute a
/// second). The pace is kept against the wall clock from the first sleep (the sampler's first
/// chip start, after start-up): from then on a sleep ends at the wall instant its simulated end
/// stands for, so the time spent working between sleeps (and a sleep's own overshoot) does not
/// make simulated time fall further and further behind.
public final class VirtualClock: HALClock {
    private let current: Mutex<Duration>
    public let timeScale: Double
    /// The wall instant simulated time `simulated` stands for (paced clocks, once anchored).
    private let origin = Mutex<(wall: ContinuousClock.Instant, simulated: Duration)?>(nil)

    public init(start: Duration = .zero, timeScale: Double = 0) {
        current = Mutex(start)
        self.timeScale = timeScale
    }

    public var now: Duration { current.withLock { $0 } }

    /// Wall time left until simulated time `simulated` is due (paced clocks); the first call
    /// anchors simulated time `from` to the wall clock now.
    private func wallTimeUntil(_ simulated: Duration, from: Duration) -> Duration {
        let origin = origin.withLock { origin in
            if origin == nil { origin = (ContinuousClock.now, from) }
            return origin ?? (ContinuousClock.now, from)
        }
        return ContinuousClock.now.duration(to: origin.wall + (simulated - origin.simulated) / timeScale)
    }

    public func sleep(for duration: Duration) {
        let start = now
        advance(by: duration)
        if timeScale > 0, duration > .zero {
            let left = wallTimeUntil(start + duration, from: start)
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
        let start = now
        let target = start + duration
        let left = wallTimeUntil(target, from: start)
        let woken = left > .zero ? wakeUp.wait(timeout: left) : wakeUp.consume()
        if woken {
            if let origin = origin.withLock({ $0 }) {
                advance(to: min(target, origin.simulated + (ContinuousClock.now - origin.wall) * timeScale))
            }
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
