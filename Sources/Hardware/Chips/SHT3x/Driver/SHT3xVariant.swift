/// What differs between SHT30, SHT31 and SHT35: only their accuracy. The protocol, commands,
/// addresses and conversion are identical, so a variant is data, not a code path.
///
/// The figures are the datasheet's *typical* accuracies (SHT3x-DIS datasheet v6, Tables 1–2);
/// the doctor and the telemetry metadata can show them, the driver does not use them.
public struct SHT3xVariant: Equatable, Sendable, CustomStringConvertible {
    /// `SHT30`, `SHT31`, `SHT35`.
    public var name: String
    /// Typical humidity accuracy, ± %RH.
    public var humidityAccuracy: Double
    /// Typical temperature accuracy, ± °C, within `temperatureAccuracyRange`.
    public var temperatureAccuracy: Double
    /// The temperature span, in °C, over which `temperatureAccuracy` holds.
    public var temperatureAccuracyRange: ClosedRange<Double>

    public init(name: String, humidityAccuracy: Double, temperatureAccuracy: Double,
                temperatureAccuracyRange: ClosedRange<Double>) {
        self.name = name
        self.humidityAccuracy = humidityAccuracy
        self.temperatureAccuracy = temperatureAccuracy
        self.temperatureAccuracyRange = temperatureAccuracyRange
    }

    /// ±2 %RH, ±0.2 °C (0…65 °C). The 2014 preliminary sheet gave ±3 %RH and ±0.3 °C.
    public static let sht30 = SHT3xVariant(name: "SHT30", humidityAccuracy: 2, temperatureAccuracy: 0.2,
                                           temperatureAccuracyRange: 0...65)
    /// ±2 %RH, ±0.2 °C (0…90 °C).
    public static let sht31 = SHT3xVariant(name: "SHT31", humidityAccuracy: 2, temperatureAccuracy: 0.2,
                                           temperatureAccuracyRange: 0...90)
    /// ±1.5 %RH, ±0.1 °C (20…60 °C).
    public static let sht35 = SHT3xVariant(name: "SHT35", humidityAccuracy: 1.5, temperatureAccuracy: 0.1,
                                           temperatureAccuracyRange: 20...60)

    public static let all: [SHT3xVariant] = [.sht30, .sht31, .sht35]

    /// Looks a variant up by name, case-insensitively (`"sht31"` from a board file).
    public static func named(_ name: String) -> SHT3xVariant? {
        all.first { $0.name.lowercased() == name.lowercased() }
    }

    public var description: String {
        "\(name) (±\(humidityAccuracy) %RH, ±\(temperatureAccuracy) °C)"
    }
}
