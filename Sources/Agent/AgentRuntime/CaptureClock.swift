#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import FoundationEssentials
#endif
import HAL
import Logging
import Synchronization

/// The time readings, aggregates and alerts are stamped with, and the outbox measures ages by.
///
/// On a real board each stamp is the wall clock read at capture, with whether that clock was
/// synchronised then. The wall clock is compared with the board's monotonic clock at every
/// stamp: when they disagree by more than ``stepThreshold`` the wall clock was set (NTP's first
/// step after a boot without a battery-backed clock, `date -s`). The step is logged with its
/// size, handed to the step observer (the hub link shifts the capture times of what this run has
/// queued, so the outbox never expires a backlog because of a step) and the clock re-anchors.
///
/// ``timeline()`` is what the outbox reads as "now": the wall time at the last stamp plus the
/// monotonic time since, so it moves with a step only when the stamps and the queue do.
///
/// On a simulated board stamps are the start time plus the board's virtual time (`--time-scale`),
/// as before, and never marked unsynchronised.
///
/// ``stamp()`` has one caller, the sampler's thread; the status and the hub link read the rest.
public final class CaptureClock: Sendable {
    /// One capture time.
    public struct Stamp: Sendable, Equatable {
        public var date: Date
        /// False when the wall clock was not synchronised at capture (the message says so).
        public var synchronised: Bool
    }

    /// A wall/monotonic disagreement larger than this is a step, not drift.
    public let stepThreshold: Duration
    let monotonic: any HALClock
    /// Nil on a simulated board.
    let wall: (any WallClock)?
    let logger: Logger

    struct Anchor {
        var wall: Duration
        var monotonic: Duration
    }

    struct State {
        var anchor: Anchor
        var onStep: (@Sendable (Duration) -> Void)?
        /// The wait before the first connection (monotonic start and limit) while it lasts.
        var waiting: (since: Duration, limit: Duration)?
        var steps = 0
    }

    let state: Mutex<State>

    /// - Parameters:
    ///   - monotonic: the board's clock (virtual on a simulated board).
    ///   - wall: the wall clock on a real board; nil on a simulated one (stamps are virtual time
    ///     from `start`).
    public init(monotonic: any HALClock, wall: (any WallClock)?, start: Date = Date(), stepThreshold: Duration = .seconds(2),
                logger: Logger) {
        self.monotonic = monotonic
        self.wall = wall
        self.stepThreshold = stepThreshold
        var logger = logger
        logger[metadataKey: "feature"] = "clock"
        self.logger = logger
        let startWall = wall?.sinceEpoch ?? .seconds(start.timeIntervalSince1970)
        state = Mutex(State(anchor: Anchor(wall: startWall, monotonic: monotonic.now)))
    }

    /// Whether stamps come from a wall clock (a real board) rather than virtual time.
    public var isWallClock: Bool { wall != nil }

    /// Called with each step's size (positive: the clock moved forward) from ``stamp()``'s thread,
    /// before stamps re-anchor for a forward step and after for a backward one, so "now" on
    /// ``timeline()`` never runs ahead of the capture times it is compared with.
    public func observeSteps(_ observer: @escaping @Sendable (Duration) -> Void) {
        state.withLock { $0.onStep = observer }
    }

    /// Steps seen since start.
    public var stepCount: Int { state.withLock { $0.steps } }

    /// Now, for a capture.
    public func stamp() -> Stamp {
        let mono = monotonic.now
        guard let wall else {
            let anchor = state.withLock { $0.anchor }
            return Stamp(date: Self.date(anchor.wall + (mono - anchor.monotonic)), synchronised: true)
        }
        let now = wall.sinceEpoch
        let synchronised = wall.synchronisation.synchronised
        let (expected, observer) = state.withLock { s in (s.anchor.wall + (mono - s.anchor.monotonic), s.onStep) }
        let step = now - expected
        let isStep = step > stepThreshold || step < .zero - stepThreshold
        if isStep {
            logger.warning("the wall clock was set \(step > .zero ? "forward" : "back") by \(Self.text(step)) (now \(synchronised ? "synchronised" : "unsynchronised")); capture times re-anchored",
                           metadata: ["step_seconds": "\(Int64(step.seconds.rounded()))"])
            if step > .zero { observer?(step) }
        }
        state.withLock { s in
            // Re-anchoring at every stamp also absorbs NTP's slewing between stamps.
            s.anchor = Anchor(wall: now, monotonic: mono)
            if isStep { s.steps += 1 }
        }
        if isStep && step < .zero { observer?(step) }
        return Stamp(date: Self.date(now), synchronised: synchronised)
    }

    /// "Now" for ages and expiry: the wall time at the last stamp plus monotonic time since (the
    /// real wall clock on a simulated board, whose stamps run on virtual time).
    public func timeline() -> Date {
        guard wall != nil else { return Date() }
        let mono = monotonic.now
        return state.withLock { Self.date($0.anchor.wall + (mono - $0.anchor.monotonic)) }
    }

    /// The wall clock's synchronisation now (nil on a simulated board).
    public var synchronisation: ClockSynchronisation? { wall?.synchronisation }

    /// Whether the agent should wait before connecting: a real board whose clock is not synchronised.
    public var needsWait: Bool { wall.map { !$0.synchronisation.synchronised } ?? false }

    /// Waits up to `limit` for the wall clock to be synchronised, re-checking every `recheck` on
    /// the monotonic clock and ending at once when `stop` is raised. Returns whether it is.
    public func waitForSynchronisation(limit: Duration, recheck: Duration = .seconds(5), stop: WakeUp,
                                       shouldStop: () -> Bool) -> Bool {
        guard let wall else { return true }
        let start = monotonic.now
        var current = wall.synchronisation
        guard !current.synchronised, limit > .zero else { return current.synchronised }
        logger.notice("the wall clock is not synchronised (\(current.source)); waiting up to \(Self.text(limit)) before connecting, readings are queued meanwhile")
        state.withLock { $0.waiting = (start, limit) }
        defer { state.withLock { $0.waiting = nil } }
        while !shouldStop() {
            let waited = monotonic.now - start
            if waited >= limit { break }
            _ = monotonic.sleep(for: min(recheck, limit - waited), wakeUp: stop)
            current = wall.synchronisation
            if current.synchronised {
                logger.notice("the wall clock is \(current) after \(Self.text(monotonic.now - start))")
                return true
            }
        }
        if !shouldStop() {
            logger.warning("the wall clock is still not synchronised after \(Self.text(limit)) (\(current.source)); connecting anyway, readings stay marked clockSynchronised: false until it is")
        }
        return false
    }

    /// What `fieldagent status` shows: `waiting for synchronisation (12 s of 120 s)`,
    /// `synchronised (…)`, `unsynchronised (…)` or `simulated time`.
    public var statusText: String {
        guard let wall else { return "simulated time" }
        if let waiting = state.withLock({ $0.waiting }) {
            let waited = monotonic.now - waiting.since
            return "waiting for synchronisation (\(Int64(waited.seconds)) s of \(Int64(waiting.limit.seconds)) s)"
        }
        return wall.synchronisation.description
    }

    static func date(_ sinceEpoch: Duration) -> Date {
        Date(timeIntervalSince1970: sinceEpoch.seconds)
    }

    /// `3 s`, `2 min`, `10 days` (the sign dropped).
    static func text(_ duration: Duration) -> String {
        let seconds = abs(duration.seconds)
        switch seconds {
        case ..<120: return "\(Int64(seconds.rounded())) s"
        case ..<7200: return "\(Int64((seconds / 60).rounded())) min"
        case ..<172_800: return "\(Int64((seconds / 3600).rounded())) h"
        default: return "\(Int64((seconds / 86400).rounded())) days"
        }
    }
}
