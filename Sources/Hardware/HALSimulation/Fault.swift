import HAL

/// One planted fault on a simulated bus (faults are an overlay on the bus, never
/// code inside drivers or models). A fault applies to transactions to `address` while the
/// scenario clock is in `[from, until)`.
public struct Fault: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        /// Every transaction is NACKed on the address byte: a chip that is absent or unpowered.
        case addressNACK
        /// A fraction `rate` (0…1) of transactions is NACKed on the address: a loose wire, noise.
        case intermittentNACK(rate: Double)
        /// A fraction `rate` of reads comes back with one bit of its last byte flipped (on SHT3x
        /// that byte is a CRC, so the driver must see a checksum error).
        case crcCorruption(rate: Double)
        /// Reads repeat the first answer given after the fault began (a frozen ADC), or, with a
        /// byte, return that byte everywhere (a data line stuck high or low).
        case stuckAt(UInt8?)
        /// Transactions fail with a timeout (clock held low).
        case timeout
        /// At `from` the chip loses power for an instant: its configuration returns to defaults.
        case chipReset
        /// The chip is unplugged at `from` and plugged back at `until` (nil: never), after which it
        /// comes back in its power-on state.
        case unplug
    }

    public var address: I2CAddress
    public var kind: Kind
    public var from: Duration
    public var until: Duration?

    public init(_ kind: Kind, at address: I2CAddress, from: Duration = .zero, until: Duration? = nil) {
        self.kind = kind
        self.address = address
        self.from = from
        self.until = until
    }

    public func isActive(at time: Duration) -> Bool {
        time >= from && (until.map { time < $0 } ?? true)
    }

    public var description: String {
        let window = until.map { " from \(from) until \($0)" } ?? (from > .zero ? " from \(from)" : "")
        return "\(kind) at \(address)\(window)"
    }
}

/// A small deterministic generator (SplitMix64): the same seed gives the same fault pattern and the
/// same scenario noise on every machine, bit for bit.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1).
    public mutating func unit() -> Double {
        Double(next() >> 11) / Double(1 << 53)
    }

    /// A pure hash of several words: noise as a function of (seed, channel, time step) rather than
    /// of call order, so readings do not depend on who asked first.
    public static func hash(_ words: UInt64...) -> UInt64 {
        words.reduce(0, mix)
    }

    /// ``hash(_:)-(UInt64...)`` of three words without the variadic array, which the scenario's
    /// noise would allocate per sample.
    public static func hash(_ a: UInt64, _ b: UInt64, _ c: UInt64) -> UInt64 {
        mix(mix(mix(0, a), b), c)
    }

    /// One step of the hash: the first output of a generator seeded with the hash so far and the word.
    private static func mix(_ hash: UInt64, _ word: UInt64) -> UInt64 {
        var g = SplitMix64(seed: hash ^ word)
        return g.next()
    }
}
