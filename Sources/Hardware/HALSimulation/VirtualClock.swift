import HAL
import SystemCalls
import Synchronization

/// A clock that moves only when told to: `sleep(for:)` advances it at once, so drivers that wait
/// for a conversion cost no wall time and a simulated day runs in seconds.
///
/// With a `timeScale` above zero, `sleep` also waits `duration / timeScale` of wall time, so a
/// simulated board in the demo runs at a watchable pace (1 = real time, 60 = a minute a second).
public final class VirtualClock: HALClock {
    private let current: Mutex<Duration>
    public let timeScale: Double

    public init(start: Duration = .zero, timeScale: Double = 0) {
        current = Mutex(start)
        self.timeScale = timeScale
    }

    public var now: Duration { current.withLock { $0 } }

    public func sleep(for duration: Duration) {
        advance(by: duration)
        if timeScale > 0, duration > .zero {
            POSIX.sleep(for: duration / timeScale)
        }
    }

    /// Paced (`timeScale` above zero): waits the wall time the duration stands for, ended early
    /// by a raise, and moves simulated time only as far as the wait went. Unpaced: at once.
    public func sleep(for duration: Duration, wakeUp: WakeUp) -> Bool {
        guard timeScale > 0, duration > .zero else {
            if wakeUp.consume() { return true }
            advance(by: duration)
            return wakeUp.consume()
        }
        let wall = ContinuousClock.now
        let woken = wakeUp.wait(timeout: duration / timeScale)
        let elapsed = woken ? min(duration, (ContinuousClock.now - wall) * timeScale) : duration
        advance(by: elapsed)
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
