/// A correction of one channel of one sensor, measured by a technician against a reference:
/// an offset (`reading + offset`) or the line through two points (raw reading → reference
/// value). Readings it corrected carry its ``label``.
public struct Calibration: Sendable, Equatable, Codable {
    /// One comparison: what the sensor read and what the reference said.
    public struct Point: Sendable, Equatable, Codable {
        public var raw: Double
        public var reference: Double

        public init(raw: Double, reference: Double) {
            self.raw = raw
            self.reference = reference
        }
    }

    /// `reading + offset` when ``points`` is nil.
    public var offset: Double
    /// The two points of a two-point calibration.
    public var points: [Point]?

    /// An offset correction.
    public static func offset(_ offset: Double) -> Calibration { Calibration(offset: offset, points: nil) }

    /// The line through two points.
    public static func twoPoint(_ low: Point, _ high: Point) -> Calibration { Calibration(offset: 0, points: [low, high]) }

    /// The corrected value.
    public func apply(_ raw: Double) -> Double {
        guard let points, points.count == 2 else { return raw + offset }
        let (a, b) = (points[0], points[1])
        return a.reference + (raw - a.raw) * (b.reference - a.reference) / (b.raw - a.raw)
    }

    /// What readings say about it: `offset -0.40`, `two-point 20.10→20.00 80.30→79.50`.
    public func label(digits: Int) -> String {
        guard let points else { return "offset " + (offset >= 0 ? "+" : "") + formatFixed(offset, digits: digits) }
        return "two-point " + points.map { formatFixed($0.raw, digits: digits) + "→" + formatFixed($0.reference, digits: digits) }
            .joined(separator: " ")
    }

    /// Why this calibration cannot be used on `spec`'s channel, or nil when it can: every number
    /// finite; an offset within a tenth of the chip's span; two points apart by at least a
    /// hundredth of the span, references within the span, and a slope between 0.5 and 2 (a
    /// calibration corrects a sensor, it does not replace it).
    public func problem(for spec: ChipDescriptor.ChannelSpec) -> String? {
        let span = spec.plausible.upperBound - spec.plausible.lowerBound
        let unit = spec.channel.unit.rawValue
        guard let points else {
            guard offset.isFinite, abs(offset) <= span / 10 else {
                return "offset \(offset) is beyond ±\(formatFixed(span / 10, digits: 1)) \(unit) (a tenth of the chip's range)"
            }
            return nil
        }
        guard points.count == 2 else { return "a two-point calibration needs exactly 2 points, not \(points.count)" }
        for point in points {
            guard point.raw.isFinite, point.reference.isFinite else { return "every point needs finite raw and reference values" }
            guard spec.plausible.contains(point.reference) else {
                return "reference \(point.reference) \(unit) is outside what the chip measures (\(spec.plausible.lowerBound)…\(spec.plausible.upperBound))"
            }
        }
        let rawSpan = points[1].raw - points[0].raw
        guard abs(rawSpan) >= span / 100 else {
            return "the two raw readings must be at least \(formatFixed(span / 100, digits: 2)) \(unit) apart"
        }
        let slope = (points[1].reference - points[0].reference) / rawSpan
        guard (0.5...2).contains(slope) else {
            return "the points give a slope of \(formatFixed(slope, digits: 3)); a calibration must keep it between 0.5 and 2"
        }
        return nil
    }
}
