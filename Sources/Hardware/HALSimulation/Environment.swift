import HAL
import SensorCore
import Synchronization

/// The physical world one chip sits in: for each channel, a function of simulated time.
/// Scenarios install time-varying sources; tests install constants with `set`.
public final class Environment: Sendable {
    public typealias Source = @Sendable (Duration) -> Double
    /// Three channels computed together (an accelerometer's axes sharing one noise step) at a run
    /// of instants `start`, `start + step`, … (one per element of `values`, each instant the one
    /// before plus `step`): the values their single sources give, for a fraction of the work. An
    /// accelerometer catching up on its conversions calls it once per catch-up, not per sample.
    public typealias JointSource = @Sendable (_ start: Duration, _ step: Duration, _ values: inout [SIMD3<Double>]) -> Void

    private struct Sources {
        var single: [Channel: Source]
        /// Joint sources and their channels; a `set` or `attach` of one of the channels drops them.
        var joint: [(channels: [Channel], source: JointSource)] = []
    }
    private let sources: Mutex<Sources>
    /// Counts changes to `sources` (bumped under its lock), so a ``Reader`` looks sources up again
    /// only after a `set` or `attach`.
    private let generation = Atomic<UInt64>(0)
    /// The clock the chip models read time from.
    public let clock: any HALClock

    public init(clock: any HALClock, defaults: [Channel: Double] = [:]) {
        self.clock = clock
        sources = Mutex(Sources(single: defaults.mapValues { v in { _ in v } }))
    }

    public func set(_ channel: Channel, _ value: Double) {
        attach(channel) { _ in value }
    }

    public func attach(_ channel: Channel, _ source: @escaping Source) {
        sources.withLock {
            $0.single[channel] = source
            $0.joint.removeAll { $0.channels.contains(channel) }
            generation.add(1, ordering: .releasing)
        }
    }

    /// Computes `x`, `y` and `z` together for a ``Reader`` of these three channels, in this
    /// order. The single sources stay as they are (``value(_:at:fallback:)`` reads them) and must
    /// give the same values: the caller attaches both, the singles first.
    public func attach(_ x: Channel, _ y: Channel, _ z: Channel, _ source: @escaping JointSource) {
        sources.withLock {
            $0.joint.removeAll { $0.channels == [x, y, z] }
            $0.joint.append(([x, y, z], source))
            generation.add(1, ordering: .releasing)
        }
    }

    /// The value of `channel` at time `t` (default: now), or `fallback` if nothing is attached.
    public func value(_ channel: Channel, at t: Duration? = nil, fallback: Double = 0) -> Double {
        let source = sources.withLock { $0.single[channel] }
        return source?(t ?? clock.now) ?? fallback
    }

    /// Reads three channels (an accelerometer's axes) at many instants: it keeps their sources
    /// (or their joint source) and takes the lock and the lookups again only when a `set` or
    /// `attach` changed the environment since, so a conversion costs one atomic load. Owned by
    /// one chip model, which serialises its use.
    public struct Reader: Sendable {
        public let environment: Environment
        private let channels: [Channel]
        /// The generation the sources were looked up at; nil before the first lookup.
        private var generation: UInt64?
        private var joint: JointSource?
        private var single: (Source?, Source?, Source?) = (nil, nil, nil)

        public init(_ environment: Environment, _ x: Channel, _ y: Channel, _ z: Channel) {
            self.environment = environment
            channels = [x, y, z]
        }

        /// The values of the three channels at time `t`, 0 where nothing is attached.
        public mutating func values(at t: Duration) -> SIMD3<Double> {
            var one = [SIMD3<Double>.zero]
            values(from: t, every: .zero, into: &one)
            return one[0]
        }

        /// Fills `values` with the three channels at `start`, `start + step`, … (each instant the
        /// one before plus `step`), 0 where nothing is attached: what ``values(at:)`` gives at
        /// each instant, bit for bit, with one lookup and one call of the joint source for all.
        public mutating func values(from start: Duration, every step: Duration, into values: inout [SIMD3<Double>]) {
            if environment.generation.load(ordering: .acquiring) != generation {
                let environment = environment, channels = channels
                (joint, single, generation) = environment.sources.withLock {
                    ($0.joint.last { $0.channels == channels }?.source,
                     ($0.single[channels[0]], $0.single[channels[1]], $0.single[channels[2]]),
                     environment.generation.load(ordering: .relaxed))
                }
            }
            if let joint { return joint(start, step, &values) }
            var t = start
            for i in values.indices {
                values[i] = SIMD3(single.0?(t) ?? 0, single.1?(t) ?? 0, single.2?(t) ?? 0)
                t += step
            }
        }
    }
}
