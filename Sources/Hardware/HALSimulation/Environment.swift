import HAL
import SensorCore
import Synchronization

/// The physical world one chip sits in: for each channel, a function of simulated time.
/// Scenarios install time-varying sources; tests install constants with `set`.
public final class Environment: Sendable {
    public typealias Source = @Sendable (Duration) -> Double
    private let sources: Mutex<[Channel: Source]>
    /// Counts changes to `sources` (bumped under its lock), so a ``Reader`` looks sources up again
    /// only after a `set` or `attach`.
    private let generation = Atomic<UInt64>(0)
    /// The clock the chip models read time from.
    public let clock: any HALClock

    public init(clock: any HALClock, defaults: [Channel: Double] = [:]) {
        self.clock = clock
        sources = Mutex(defaults.mapValues { v in { _ in v } })
    }

    public func set(_ channel: Channel, _ value: Double) {
        attach(channel) { _ in value }
    }

    public func attach(_ channel: Channel, _ source: @escaping Source) {
        sources.withLock {
            $0[channel] = source
            generation.add(1, ordering: .releasing)
        }
    }

    /// The value of `channel` at time `t` (default: now), or `fallback` if nothing is attached.
    public func value(_ channel: Channel, at t: Duration? = nil, fallback: Double = 0) -> Double {
        let source = sources.withLock { $0[channel] }
        return source?(t ?? clock.now) ?? fallback
    }

    /// Reads three channels (an accelerometer's axes) at many instants: it keeps their sources
    /// and takes the lock and the three lookups again only when a `set` or `attach` changed the
    /// environment since, so a conversion costs one atomic load. Owned by one chip model, which
    /// serialises its use.
    public struct Reader: Sendable {
        public let environment: Environment
        private let channels: (Channel, Channel, Channel)
        /// The generation `cached` was looked up at; nil before the first lookup.
        private var generation: UInt64?
        private var cached: (Source?, Source?, Source?) = (nil, nil, nil)

        public init(_ environment: Environment, _ x: Channel, _ y: Channel, _ z: Channel) {
            self.environment = environment
            channels = (x, y, z)
        }

        /// The values of the three channels at time `t`, 0 where nothing is attached.
        public mutating func values(at t: Duration) -> SIMD3<Double> {
            if environment.generation.load(ordering: .acquiring) != generation {
                let environment = environment, channels = channels
                (cached, generation) = environment.sources.withLock {
                    (($0[channels.0], $0[channels.1], $0[channels.2]),
                     environment.generation.load(ordering: .relaxed))
                }
            }
            return SIMD3(cached.0?(t) ?? 0, cached.1?(t) ?? 0, cached.2?(t) ?? 0)
        }
    }
}
