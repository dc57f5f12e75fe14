import ADXL345
import ADXL345Model
import BME280
import BME280Model
import HAL
import HALSimulation
import SCD4x
import SCD4xModel
import SHT3x
import SHT3xModel
import SensorCore

/// Every chip FieldAgent knows, in the order a bus scan tries them. This is the one list of
/// chips: a new chip adds its driver's descriptors and its model's factories here and nowhere
/// else outside its own folder (docs/adding-a-chip.md). The catalog depends on the chips only:
/// no board-file parser, no Linux backend.
public enum ChipCatalog {
    static let descriptors: [ChipDescriptor] = BME280.descriptors + SHT3x.descriptors + ADXL345.descriptors + SCD4x.descriptors
    static let factories: [ChipModelFactory] = BME280Model.factories + SHT3xModel.factories + ADXL345Model.factories
        + SCD4xModel.factories

    /// Every part, each with its model.
    public static let all: [ChipKind] = descriptors.map { descriptor in
        ChipKind(descriptor: descriptor, model: factories.first { $0.chip == descriptor.name })
    }

    /// The part a board file names, by name or alias, in any case (`sht3x` is the SHT31).
    public static func named(_ name: String) -> ChipKind? {
        let upper = name.uppercased()
        return all.first { $0.name == upper || $0.descriptor.aliases.contains { $0.uppercased() == upper } }
    }

    /// The parts a bus scan tries: one per part that identification can tell apart.
    public static var detectable: [ChipKind] { all.filter(\.descriptor.detectable) }

    /// Which known part answers at `address`, if any (nil for an unknown device or one that does
    /// not answer). Only parts that can live at that address are asked.
    public static func detect(bus: any I2CBus, address: I2CAddress, clock: any HALClock) -> ChipKind? {
        detectable.first { kind in
            kind.addresses.contains(address) && ((try? kind.identify(bus: bus, address: address, clock: clock)) ?? false)
        }
    }
}

/// A part as a board file names it: its driver's descriptor and its simulation model.
public struct ChipKind: Sendable, Hashable, CustomStringConvertible {
    public let descriptor: ChipDescriptor
    let model: ChipModelFactory?

    /// The board-file name (`BME280`, `SHT31`).
    public var name: String { descriptor.name }
    public var family: String { descriptor.family }
    public var addresses: [I2CAddress] { descriptor.addresses }
    public var addressPin: String { descriptor.addressPin }
    public var description: String { name }

    public func makeDriver(bus: any I2CBus, address: I2CAddress, clock: any HALClock) -> any Sensor {
        descriptor.makeDriver(bus, address, clock)
    }

    public func identify(bus: any I2CBus, address: I2CAddress, clock: any HALClock) throws(I2CError) -> Bool {
        try descriptor.identify(bus, address, clock)
    }

    public struct ModelError: Error, CustomStringConvertible {
        public var description: String
    }

    /// A register-level model of the part, or one replaying an `i2cdump` capture.
    public func makeModel(environment: Environment, dump: I2CDump?) throws(ModelError) -> any ChipModel {
        guard let model else { throw ModelError(description: "no simulation model of the \(name) exists yet") }
        do {
            return try model.make(environment, dump)
        } catch {
            throw ModelError(description: "\(error)")
        }
    }

    public static func == (a: ChipKind, b: ChipKind) -> Bool { a.name == b.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
}
