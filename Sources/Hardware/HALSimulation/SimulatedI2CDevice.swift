import HAL
import SensorCore

/// The bus face of a simulated chip: what the simulated bus calls for each operation of a
/// transaction addressed to it (Zephyr's `i2c_emul` API). Models throw `I2CError` with the kind
/// only (`.noAcknowledge(.data)` for an unknown command, `.noAcknowledge(.address)` while busy);
/// the bus fills in bus name, address and operation.
public protocol SimulatedI2CDevice: AnyObject, Sendable {
    /// Bytes the controller wrote (after the address byte); a register pointer or command word comes first.
    func write(_ bytes: [UInt8]) throws(I2CError)
    /// The controller reads `count` bytes.
    func read(count: Int) throws(I2CError) -> [UInt8]
    /// STOP: the transaction is over.
    func stop()
}

extension SimulatedI2CDevice {
    public func stop() {}
}

/// The test-and-demo face of a simulated chip (Zephyr's `emul_sensor` backend API): set the
/// physical world in SI-style units; the model encodes raw registers as the chip would.
public protocol ChipModel: SimulatedI2CDevice {
    /// Quantities this chip senses (`.temperature`, `.accelerationX`, …). Derived channels such
    /// as vibration RMS are the driver's business, not the model's.
    var physicalChannels: [Channel] { get }
    /// Where the chip's physical inputs come from; `set` installs a constant source.
    var environment: Environment { get set }
    /// The range the chip can represent in its current configuration.
    func range(of channel: Channel) -> ClosedRange<Double>
    /// The largest difference between a set value and what a correct driver reads back
    /// (quantisation plus the chip's own approximations), in the channel's unit.
    func resolution(of channel: Channel) -> Double
    /// A power-on reset: configuration registers return to their defaults (the fault layer's
    /// "chip reset").
    func powerOnReset()
}

extension ChipModel {
    /// Holds `channel` at `value` from now on.
    public func set(_ channel: Channel, _ value: Double) {
        environment.set(channel, value)
    }
}

/// How to make the model of one chip part, exported by the chip's model target
/// (`BME280Model.factories`, …) and paired with the part's `ChipDescriptor` by name in the
/// `ChipCatalog` target.
public struct ChipModelFactory: Sendable {
    /// The `ChipDescriptor.name` of the part this makes.
    public var chip: String
    /// A fresh model of the part, or, given an `i2cdump` capture, one replaying it. Throws with a
    /// message for the board file's author (a capture the model cannot replay, a damaged dump).
    public var make: @Sendable (_ environment: Environment, _ dump: I2CDump?) throws -> any ChipModel

    public init(chip: String, make: @escaping @Sendable (Environment, I2CDump?) throws -> any ChipModel) {
        self.chip = chip
        self.make = make
    }
}
