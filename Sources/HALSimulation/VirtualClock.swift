import HAL
import Synchronization

/// A clock that moves only when told to: `sleep(for:)` advances it at once, so drivers that wait
/// for a conversion cost no wall time and a simulated day runs in seconds.
public final class VirtualClock: HALClock {
    private let current: Mutex<Duration>

    public init(start: Duration = .zero) {
        current = Mutex(start)
    }

    public var now: Duration { current.withLock { $0 } }

    public func sleep(for duration: Duration) {
        advance(by: duration)
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
