import SensorCore

/// A member of the BME280 family as data (after the
/// kernel's `bmp280_chip_info`): what the `id` register must read and what the part can measure.
///
/// The BMP280 shares the BME280's register map, calibration layout and compensation for
/// temperature and pressure but has no humidity sensor: no `ctrl_hum`, no 0xE1… calibration and
/// no humidity data registers.
public struct BME280Variant: Sendable, Equatable, CustomStringConvertible {
    /// The part name as printed to people.
    public var name: String
    /// The value the `id` register (0xD0) reads (§5.4.1).
    public var chipID: UInt8
    /// Whether the part has the humidity sensor (`ctrl_hum`, calibration 0xE1…0xE7, data 0xFD…0xFE).
    public var hasHumidity: Bool

    public init(name: String, chipID: UInt8, hasHumidity: Bool) {
        self.name = name
        self.chipID = chipID
        self.hasHumidity = hasHumidity
    }

    /// Bosch BME280: temperature, pressure, humidity; `id` 0x60.
    public static let bme280 = BME280Variant(name: "BME280", chipID: 0x60, hasHumidity: true)
    /// Bosch BMP280: temperature and pressure only; `id` 0x58 (production parts; early samples read 0x56/0x57).
    public static let bmp280 = BME280Variant(name: "BMP280", chipID: 0x58, hasHumidity: false)

    /// Every variant this driver knows, for identification by `id`.
    public static let known: [BME280Variant] = [.bme280, .bmp280]

    /// The channels the part can measure, in `Channel` order.
    public var channels: [Channel] {
        hasHumidity ? [.temperature, .humidity, .pressure] : [.temperature, .pressure]
    }

    public var description: String { "\(name) (id 0x\(String(chipID, radix: 16, uppercase: true)))" }
}
