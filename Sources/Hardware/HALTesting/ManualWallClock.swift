import HAL
import Synchronization

/// A wall clock for tests: it runs with a ``HALClock`` (a virtual one, so nothing sleeps) from a
/// chosen start, can be stepped forward and back as NTP or `date -s` would, and synchronised now
/// or once the followed clock reaches a given time.
public final class ManualWallClock: WallClock {
    struct State {
        var offset: Duration
        var synchronised: Bool
        var synchronisesAt: Duration?
    }

    private let clock: any HALClock
    private let state: Mutex<State>
    public let source: String

    /// - Parameters:
    ///   - start: the wall time (since 1970) when the followed clock reads `clock.now` at init.
    ///   - clock: the monotonic clock this one runs with.
    public init(start: Duration, following clock: any HALClock, synchronised: Bool = false, source: String = "test clock") {
        self.clock = clock
        self.source = source
        state = Mutex(State(offset: start - clock.now, synchronised: synchronised))
    }

    public var sinceEpoch: Duration { state.withLock { $0.offset } + clock.now }

    public var synchronisation: ClockSynchronisation {
        let now = clock.now
        let synchronised = state.withLock { s in s.synchronised || s.synchronisesAt.map { now >= $0 } == true }
        return ClockSynchronisation(synchronised: synchronised, source: source)
    }

    /// Sets the clock: forward for a positive `step`, back for a negative one.
    public func step(by step: Duration) {
        state.withLock { $0.offset += step }
    }

    public func setSynchronised(_ synchronised: Bool) {
        state.withLock {
            $0.synchronised = synchronised
            $0.synchronisesAt = nil
        }
    }

    /// Becomes synchronised once the followed clock reaches `time`.
    public func synchronise(at time: Duration) {
        state.withLock { $0.synchronisesAt = time }
    }
}
