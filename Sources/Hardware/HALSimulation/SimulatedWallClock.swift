import HAL
import Synchronization

/// The wall clock of a simulated board whose file plants clock steps: it runs with the board's
/// (virtual) clock from a start time, and at each planted board time the clock is set forward or
/// back by the planted amount, as NTP's first step or an operator's `date -s` would set a real
/// board's. Always reported synchronised (the steps are sets, not a lost sync).
public final class SimulatedWallClock: WallClock {
    /// One planted set of the clock: at board time `at`, the wall clock moves by `by`.
    public struct Step: Sendable, Equatable {
        public var at: Duration
        public var by: Duration
        public init(at: Duration, by: Duration) {
            self.at = at
            self.by = by
        }
    }

    let clock: any HALClock
    let start: Duration
    public let steps: [Step]

    /// - Parameters:
    ///   - clock: the board's clock.
    ///   - start: the wall time (since the epoch) at board time zero.
    ///   - steps: the planted steps, in any order.
    public init(following clock: any HALClock, start: Duration, steps: [Step]) {
        self.clock = clock
        self.start = start
        self.steps = steps.sorted { $0.at < $1.at }
    }

    public var sinceEpoch: Duration {
        let now = clock.now
        var offset = Duration.zero
        for step in steps where step.at <= now { offset += step.by }
        return start + now + offset
    }

    public var synchronisation: ClockSynchronisation {
        ClockSynchronisation(synchronised: true, source: "simulated board")
    }
}
