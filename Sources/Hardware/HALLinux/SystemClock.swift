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

/// CLOCK_MONOTONIC, the clock the kernel stamps GPIO edge events with (uAPI v1 since Linux 5.7; CGPIOD asks uAPI v2 for it).
func monotonicNow() -> Duration {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.duration
}

extension timespec {
    var duration: Duration {
        Duration(secondsComponent: Int64(tv_sec), attosecondsComponent: Int64(tv_nsec) * 1_000_000_000)
    }
}

/// A wait's timeout in whole nanoseconds: negative becomes zero, one too long for Int64 is Int64.max.
func nanoseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = max(duration, .zero).components
    let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    let (total, carry) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
    return overflow || carry ? .max : total
}
