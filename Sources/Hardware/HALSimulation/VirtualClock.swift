#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
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
/// make simulated time fall further and further behind. Inside ``coalescingWaits(_:)`` (the
/// sampler's burst of chip work) sleeps pass at once and the burst waits once at its end: a
/// sample of the factory board's accelerometer sleeps on the FIFO a dozen times, and each
/// would be a wake-up of the idle agent.
public final class VirtualClock: HALClock {
    private let current: Mutex<Duration>
    public let timeScale: Double
    /// The wall instant simulated time `simulated` stands for (paced clocks, once anchored).
    private let origin = Mutex<(wall: ContinuousClock.Instant, simulated: Duration)?>(nil)
    /// The thread inside ``coalescingWaits(_:)``, whose sleeps do not wait (paced clocks).
    private let coalescing = Mutex<pthread_t?>(nil)
    /// How much simulated time the last burst took plus a little slack: a paced interruptible
    /// wait (the sampler's wait for its next sample) ends that much later in wall time, so the
    /// next burst's simulated span has passed on the wall clock when it is computed and it needs
    /// no wait of its own: one wake-up per sample.
    private let burstLead = Mutex<Duration>(.zero)
    private static let burstSlack = Duration.milliseconds(10)

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
            if left > .zero, !isCoalescing { POSIX.sleep(for: left) }
        }
    }

    private var isCoalescing: Bool {
        let me = pthread_self()
        return coalescing.withLock { $0.map { pthread_equal($0, me) != 0 } ?? false }
    }

    /// Paced: the sleeps `body` makes on this thread advance simulated time at once; at the end
    /// one wait until the wall instant the simulated time then reached stands for. Unpaced, or
    /// while another thread coalesces: runs `body` as it is.
    public func coalescingWaits<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        guard timeScale > 0 else { return try body() }
        let me = pthread_self()
        let entered = coalescing.withLock { current -> Bool in
            guard current == nil else { return false }
            current = me
            return true
        }
        guard entered else { return try body() }
        let begin = now
        defer {
            coalescing.withLock { $0 = nil }
            let end = now
            burstLead.withLock { $0 = end - begin + Self.burstSlack }
            let left = wallTimeUntil(end, from: end)
            if left > .zero { POSIX.sleep(for: left) }
        }
        return try body()
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
        let left = wallTimeUntil(target + burstLead.withLock { $0 }, from: start)
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
