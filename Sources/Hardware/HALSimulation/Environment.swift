import HAL
import SensorCore
import Synchronization

/// The physical world one chip sits in: for each channel, a function of simulated time.
/// Scenarios install time-varying sources; tests install constants with `set`.
public final class Environment: Sendable {
    public typealias Source = @Sendable (Duration) -> Double
    private let sources: Mutex<[Channel: Source]>
    /// The clock the chip models read time from.
    public let clock: any HALClock

    public init(clock: any HALClock, defaults: [Channel: Double] = [:]) {
        self.clock = clock
        sources = Mutex(defaults.mapValues { v in { _ in v } })
    }

    public func set(_ channel: Channel, _ value: Double) {
        sources.withLock { $0[channel] = { _ in value } }
    }

    public func attach(_ channel: Channel, _ source: @escaping Source) {
        sources.withLock { $0[channel] = source }
    }

    /// The values of three channels at time `t` (an accelerometer's axes), 0 where nothing is
    /// attached: one lock for the three.
    public func values(_ x: Channel, _ y: Channel, _ z: Channel, at t: Duration) -> SIMD3<Double> {
        let (sx, sy, sz) = sources.withLock { ($0[x], $0[y], $0[z]) }
        return SIMD3(sx?(t) ?? 0, sy?(t) ?? 0, sz?(t) ?? 0)
    }

    /// The value of `channel` at time `t` (default: now), or `fallback` if nothing is attached.
    public func value(_ channel: Channel, at t: Duration? = nil, fallback: Double = 0) -> Double {
        let source = sources.withLock { $0[channel] }
        return source?(t ?? clock.now) ?? fallback
    }
}
