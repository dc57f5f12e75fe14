// Pure conversion for the ADXL345: raw data bytes to g, and the self-test limit check.
// Zero I/O; unit-tested with golden vectors.

import SensorCore

extension ADXL345 {
    /// Scale in full-resolution mode, g per LSB, at every range.
    ///
    /// The data sheet gives 3.9 mg/LSB typical (256 LSB/g); ADI's own no-OS driver converts with
    /// exactly 0.0039 g/LSB (`ADXL345_SCALE_FACTOR`, "Full Resolution Scale Factor", in
    /// `drivers/accel/adxl345/adxl345.h`; fact sheet §G.3), and so do we. 1/256 = 0.00390625 would
    /// differ by 0.16 %, well inside the part's sensitivity tolerance.
    public static let gPerLSB = 0.0039

    /// One DATAX0…DATAZ1 burst as signed counts (right-justified, two's complement).
    public struct RawSample: Equatable, Sendable {
        public var x: Int16
        public var y: Int16
        public var z: Int16

        public init(x: Int16, y: Int16, z: Int16) {
            self.x = x
            self.y = y
            self.z = z
        }

        /// Decodes the six bytes DATAX0, DATAX1, DATAY0, DATAY1, DATAZ0, DATAZ1 (little-endian per
        /// axis). Returns nil unless exactly six bytes are given.
        public init?(bytes: [UInt8]) {
            guard bytes.count == ADXL345.sampleByteCount else { return nil }
            func word(_ i: Int) -> Int16 { Int16(bitPattern: UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8) }
            self.init(x: word(0), y: word(2), z: word(4))
        }

        /// In g, for full-resolution mode (the only mode this driver configures).
        public var acceleration: Acceleration {
            Acceleration(x: Double(x) * ADXL345.gPerLSB, y: Double(y) * ADXL345.gPerLSB, z: Double(z) * ADXL345.gPerLSB)
        }
    }

    /// An acceleration vector in g.
    public struct Acceleration: Equatable, Sendable {
        public var x: Double
        public var y: Double
        public var z: Double

        public init(x: Double, y: Double, z: Double) {
            self.x = x
            self.y = y
            self.z = z
        }

        /// √(x² + y² + z²), in g.
        public var magnitude: Double { (x * x + y * y + z * z).squareRoot() }
    }

    /// Supply voltage VS of the part, which scales the self-test response (the electrostatic force
    /// grows with VS²). Values from the data sheet "Self-Test Output Scale Factors for Different
    /// Supply Voltages" table.
    public enum SupplyVoltage: String, CaseIterable, Sendable {
        case v2_00 = "2.00 V"
        case v2_50 = "2.50 V"
        /// Raspberry Pi breakout boards.
        case v3_30 = "3.30 V"
        case v3_60 = "3.60 V"

        /// Scale factor for the X and Y limits, relative to 2.5 V.
        public var xyScale: Double {
            switch self {
            case .v2_00: 0.64
            case .v2_50: 1.00
            case .v3_30: 1.77
            case .v3_60: 2.11
            }
        }

        /// Scale factor for the Z limits, relative to 2.5 V.
        public var zScale: Double {
            switch self {
            case .v2_00: 0.8
            case .v2_50: 1.00
            case .v3_30: 1.47
            case .v3_60: 1.69
            }
        }
    }

    /// The self-test output change limits in LSB for full resolution (or ±2 g 10-bit), per axis.
    ///
    /// Source: ADXL345 data sheet Rev. E, "Self-Test Output in LSB for ±2 g, 10-Bit or Full
    /// Resolution" table (TA = 25 °C, VS = 2.5 V): X 50…540, Y −540…−50, Z 75…875 LSB, multiplied by
    /// the supply-voltage scale factors. Verified against the data sheet text (page 22), not a
    /// driver source. The limits hold for both modes of the part's bimodal self-test response.
    public struct SelfTestLimits: Equatable, Sendable {
        public var x: ClosedRange<Double>
        public var y: ClosedRange<Double>
        public var z: ClosedRange<Double>

        public init(x: ClosedRange<Double>, y: ClosedRange<Double>, z: ClosedRange<Double>) {
            self.x = x
            self.y = y
            self.z = z
        }

        public init(supply: SupplyVoltage) {
            let xy = supply.xyScale, zs = supply.zScale
            self.init(x: 50 * xy...540 * xy, y: -540 * xy...(-50 * xy), z: 75 * zs...875 * zs)
        }

        /// Judges the change `on − off` of the per-axis averages, in LSB.
        public func evaluate(off: (x: Double, y: Double, z: Double), on: (x: Double, y: Double, z: Double),
                             supply: SupplyVoltage) -> SelfTestResult {
            let axes: [(String, Double, ClosedRange<Double>)] = [
                ("X", on.x - off.x, x), ("Y", on.y - off.y, y), ("Z", on.z - off.z, z),
            ]
            var passed = true
            var parts: [String] = []
            for (name, change, limits) in axes {
                let ok = limits.contains(change)
                passed = passed && ok
                parts.append("\(name) \(signed(change)) LSB (limits \(oneDecimal(limits.lowerBound))…"
                             + "\(oneDecimal(limits.upperBound))) \(ok ? "ok" : "OUT OF LIMITS")")
            }
            let verdict = passed ? "pass" : "fail"
            return SelfTestResult(passed: passed, detail: "self-test output change at VS \(supply.rawValue): "
                                  + parts.joined(separator: ", ") + "; \(verdict)")
        }
    }
}

/// `x` rounded to one decimal, as Swift prints a Double ("88.5", "-955.8").
func oneDecimal(_ x: Double) -> String {
    let rounded = (x * 10).rounded() / 10
    return rounded == 0 ? "0.0" : "\(rounded)"
}

/// Like ``oneDecimal(_:)`` with an explicit "+" for positive values.
func signed(_ x: Double) -> String {
    let text = oneDecimal(x)
    return x > 0 && text != "0.0" ? "+" + text : text
}
