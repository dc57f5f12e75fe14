/// SI-style units FieldAgent reports in. Values cross module boundaries with their unit attached,
/// never as bare counts or untyped doubles.
public enum PhysicalUnit: String, Sendable, Codable {
    case degreeCelsius = "°C"
    case percentRelativeHumidity = "%RH"
    case pascal = "Pa"
    /// Standard gravity, 9.80665 m/s².
    case standardGravity = "g"
    /// Parts per million by volume (a gas concentration: µmol/mol).
    case partsPerMillion = "ppm"
}

/// A value with its unit.
public struct Quantity: Equatable, Sendable, CustomStringConvertible {
    public var value: Double
    public var unit: PhysicalUnit

    public init(_ value: Double, _ unit: PhysicalUnit) {
        self.value = value
        self.unit = unit
    }

    public static func celsius(_ v: Double) -> Quantity { Quantity(v, .degreeCelsius) }
    public static func percentRH(_ v: Double) -> Quantity { Quantity(v, .percentRelativeHumidity) }
    public static func pascals(_ v: Double) -> Quantity { Quantity(v, .pascal) }
    public static func g(_ v: Double) -> Quantity { Quantity(v, .standardGravity) }

    /// At most four decimals: more than any of these sensors resolves (45.1171875 → 45.1172).
    public var description: String { "\((value * 10_000).rounded() / 10_000) \(unit.rawValue)" }
}

/// What a sensor measures. Each channel has one unit.
public enum Channel: String, CaseIterable, Sendable, Codable, Comparable {
    case temperature
    case humidity
    case pressure
    case accelerationX
    case accelerationY
    case accelerationZ
    /// RMS of the AC part (gravity removed) of the acceleration magnitude over the read window.
    case vibrationRMS
    /// Largest absolute AC deviation of the acceleration magnitude over the read window.
    case vibrationPeak
    /// Carbon dioxide concentration in air.
    case co2

    public static func < (a: Channel, b: Channel) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
