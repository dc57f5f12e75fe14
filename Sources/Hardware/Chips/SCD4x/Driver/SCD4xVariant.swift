/// What differs between an SCD40 and an SCD41: the CO2 span over which accuracy is specified, and
/// whether the low-power single-shot commands exist. Address, commands, framing and conversion are
/// the same, so a variant is data, not a code path.
///
/// The two cannot be told apart with the commands of datasheet v1.3 (get_sensor_variant came
/// later), so the variant comes from the board file.
public struct SCD4xVariant: Equatable, Sendable, CustomStringConvertible {
    /// `SCD40`, `SCD41`.
    public var name: String
    /// CO2 span, in ppm, over which the datasheet specifies accuracy. Both report 0–40 000 ppm.
    public var specifiedCO2Range: ClosedRange<Double>
    /// measure_single_shot, measure_single_shot_rht_only, power_down and wake_up exist.
    public var hasSingleShot: Bool

    public init(name: String, specifiedCO2Range: ClosedRange<Double>, hasSingleShot: Bool) {
        self.name = name
        self.specifiedCO2Range = specifiedCO2Range
        self.hasSingleShot = hasSingleShot
    }

    /// Base accuracy, 400–2000 ppm, periodic modes only.
    public static let scd40 = SCD4xVariant(name: "SCD40", specifiedCO2Range: 400...2000, hasSingleShot: false)
    /// High accuracy, 400–5000 ppm, single shot supported.
    public static let scd41 = SCD4xVariant(name: "SCD41", specifiedCO2Range: 400...5000, hasSingleShot: true)

    public static let all: [SCD4xVariant] = [.scd40, .scd41]

    /// Looks a variant up by name, case-insensitively (`"scd41"` from a board file).
    public static func named(_ name: String) -> SCD4xVariant? {
        all.first { $0.name.lowercased() == name.lowercased() }
    }

    public var description: String {
        "\(name) (specified \(Int(specifiedCO2Range.lowerBound))–\(Int(specifiedCO2Range.upperBound)) ppm"
            + (hasSingleShot ? ", single shot)" : ")")
    }
}
