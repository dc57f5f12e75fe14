import Glibc
import HAL

/// The real clock for real boards: CLOCK_MONOTONIC (the clock GPIO edge timestamps use) and a
/// sleep that resumes after signals until the full duration has passed.
public final class SystemClock: HALClock {
    public init() {}

    public var now: Duration { monotonicNow() }

    public func sleep(for duration: Duration) {
        guard duration > .zero else { return }
        var request = timespec(duration)
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR {
            request = remaining
        }
    }

    public func sleep(for duration: Duration, wakeUp: WakeUp) -> Bool {
        wakeUp.wait(timeout: duration)
    }
}
