import ADXL345
import ADXL345Model
import BME280
import BME280Model
import HAL
import HALSimulation
import SHT3x
import SHT3xModel
import SensorCore

/// The chips FieldAgent knows, as board files name them. Each entry ties a name to its driver,
/// its simulation model and how to recognise it on a bus (chip variants are data: BME280 vs
/// BMP280, SHT30/31/35 differ only in their descriptors).
public enum ChipKind: String, Sendable, CaseIterable {
    case bme280 = "BME280"
    case bmp280 = "BMP280"
    case sht30 = "SHT30"
    case sht31 = "SHT31"
    case sht35 = "SHT35"
    case adxl345 = "ADXL345"

    /// Accepts the names case-insensitively; `SHT3x` means SHT31.
    public init?(name: String) {
        let upper = name.uppercased()
        if upper == "SHT3X" { self = .sht31; return }
        guard let kind = ChipKind.allCases.first(where: { $0.rawValue == upper }) else { return nil }
        self = kind
    }

    /// The driver family, as the doctor prints it.
    public var family: String {
        switch self {
        case .bme280, .bmp280: "BME280"
        case .sht30, .sht31, .sht35: "SHT3x"
        case .adxl345: "ADXL345"
        }
    }

    /// Addresses the chip can be strapped to, the default first.
    public var addresses: [I2CAddress] {
        switch self {
        case .bme280, .bmp280: [BME280.primaryAddress, BME280.secondaryAddress]
        case .sht30, .sht31, .sht35: [I2CAddress(0x44), I2CAddress(0x45)]
        case .adxl345: [ADXL345.primaryAddress, ADXL345.alternateAddress]
        }
    }

    /// The pin that selects the address, for fix hints.
    public var addressPin: String {
        switch self {
        case .bme280, .bmp280: "SDO"
        case .sht30, .sht31, .sht35: "ADDR"
        case .adxl345: "ALT ADDRESS (SDO)"
        }
    }

    public func makeDriver(bus: any I2CBus, address: I2CAddress, clock: any HALClock) -> any Sensor {
        switch self {
        case .bme280: BME280(bus: bus, address: address, clock: clock, variant: .bme280)
        case .bmp280: BME280(bus: bus, address: address, clock: clock, variant: .bmp280)
        case .sht30: SHT3x(bus: bus, address: address, clock: clock, variant: .sht30)
        case .sht31: SHT3x(bus: bus, address: address, clock: clock, variant: .sht31)
        case .sht35: SHT3x(bus: bus, address: address, clock: clock, variant: .sht35)
        case .adxl345: ADXL345(bus: bus, address: address, clock: clock)
        }
    }

    public struct ModelError: Error, CustomStringConvertible {
        public var description: String
    }

    /// A register-level model of the chip, or one replaying an `i2cdump` capture.
    public func makeModel(environment: Environment, dump: I2CDump?) throws(ModelError) -> any ChipModel {
        do {
            switch (self, dump) {
            case (.bme280, nil): return BME280Model(environment: environment, part: .bme280)
            case (.bmp280, nil): return BME280Model(environment: environment, part: .bmp280)
            case (.bme280, let dump?), (.bmp280, let dump?): return try BME280Model(environment: environment, dump: dump)
            case (.adxl345, nil): return ADXL345Model(environment: environment)
            case (.adxl345, let dump?): return try ADXL345Model(environment: environment, dump: dump)
            case (.sht30, nil), (.sht31, nil), (.sht35, nil): return SHT3xModel(environment: environment)
            case (.sht30, _?), (.sht31, _?), (.sht35, _?):
                throw ModelError(description: "an SHT3x has no register map (it takes 16-bit commands), so an i2cdump cannot be replayed; remove 'dump'")
            }
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError(description: "\(error)")
        }
    }

    /// Whether the chip at `address` is this chip: the ID register (which tells a BME280 from a
    /// BMP280), or for an SHT3x a status word with a valid CRC (SHT30/31/35 cannot be told apart
    /// on the bus).
    public func identify(bus: any I2CBus, address: I2CAddress, clock: any HALClock) throws(I2CError) -> Bool {
        switch self {
        case .bme280: try BME280Identification.variant(bus: bus, address: address) == .bme280
        case .bmp280: try BME280Identification.variant(bus: bus, address: address) == .bmp280
        case .sht30, .sht31, .sht35: try SHT3xIdentification.identify(bus: bus, address: address, clock: clock)
        case .adxl345: try ADXL345Identification.identify(bus: bus, address: address)
        }
    }

    /// One representative per part that can be told apart on the bus, in the order to try them.
    public static let detectable: [ChipKind] = [.bme280, .bmp280, .sht31, .adxl345]

    /// Which known chip answers at `address`, if any (nil for an unknown device or one that does
    /// not answer). Only chips that can live at that address are asked.
    public static func detect(bus: any I2CBus, address: I2CAddress, clock: any HALClock) -> ChipKind? {
        detectable.first { kind in
            kind.addresses.contains(address) && ((try? kind.identify(bus: bus, address: address, clock: clock)) ?? false)
        }
    }
}
