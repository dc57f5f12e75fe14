import Glibc
import HAL
import SystemCalls

/// The real clock for real boards: CLOCK_MONOTONIC (the clock GPIO edge timestamps use) and a
/// sleep that resumes after signals until the full duration has passed.
public final class SystemClock: HALClock {
    public init() {}

    public var now: Duration { monotonicNow() }

    public func sleep(for duration: Duration) {
        POSIX.sleep(for: duration)
    }

    public func sleep(for duration: Duration, wakeUp: WakeUp) -> Bool {
        wakeUp.wait(timeout: duration)
    }
}

/// CLOCK_MONOTONIC, the clock the kernel stamps GPIO edge events with (uAPI v1 since Linux 5.7).
func monotonicNow() -> Duration {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.duration
}

extension timespec {
    /// A non-negative duration as a `timespec` (negative becomes zero).
    init(_ duration: Duration) {
        let clamped = max(duration, .zero)
        let (seconds, attoseconds) = clamped.components
        self.init(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    }

    var duration: Duration {
        Duration(secondsComponent: Int64(tv_sec), attosecondsComponent: Int64(tv_nsec) * 1_000_000_000)
    }
}
