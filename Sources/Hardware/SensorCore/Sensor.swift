import HAL

/// One value read from a sensor channel.
public struct ChannelValue: Equatable, Sendable {
    public var channel: Channel
    public var quantity: Quantity

    public init(_ channel: Channel, _ value: Double) {
        self.channel = channel
        self.quantity = Quantity(value, channel.unit)
    }
}

/// Why a sensor operation failed, in the terms `doctor` and the sampler act on. Each driver has
/// its own error enum (typed, with expected/actual data) and maps it here.
public enum SensorFailureCategory: String, Sendable, Codable {
    /// The bus transaction failed; the `I2CError` says how.
    case bus
    /// Something answered at the address but it is not the chip the board file names.
    case wrongChip
    /// A checksum on the data did not match (SHT3x CRC-8).
    case checksum
    /// The chip did not finish a conversion or reset in time.
    case notReady
    /// Calibration data is missing or implausible (all zeros, all 0xFF).
    case notCalibrated
    /// The chip's built-in self-test failed.
    case selfTest
    /// The driver was asked for something the chip cannot do.
    case configuration
}

/// The face every driver error shows outside its module.
public protocol SensorFailure: Error, CustomStringConvertible, Sendable {
    var category: SensorFailureCategory { get }
    /// The underlying bus error, when the failure came from the bus.
    var busError: I2CError? { get }
}

/// Outcome of a chip's built-in self-test.
public struct SelfTestResult: Equatable, Sendable {
    public var passed: Bool
    /// What was measured against what was expected, in words a technician can read.
    public var detail: String

    public init(passed: Bool, detail: String) {
        self.passed = passed
        self.detail = detail
    }
}

/// A chip driver's public face, the same for every chip so the sampler, the doctor and the
/// generic conformance test can treat them alike.
///
/// ## Contract
/// - A driver takes its bus and address at construction and owns them.
/// - `start()` identifies the chip (ID register or equivalent), resets it and configures it; call
///   it again after a failure to re-initialise (a replugged or reset chip).
/// - Every throwing method throws a `SensorFailure` (the driver's own error enum).
/// - `sample()` performs one complete measurement and returns one value per channel in `channels`,
///   in SI-style units. It never returns a made-up value: any failure throws a `SensorFailure`.
/// - Waiting (conversion time) goes through the injected `HALClock`.
public protocol Sensor: AnyObject, Sendable {
    /// The chip family as printed to people: `BME280`, `SHT3x`, `ADXL345`.
    var chipName: String { get }
    var address: I2CAddress { get }
    var channels: [Channel] { get }

    func start() throws
    func sample() throws -> [ChannelValue]
    /// Runs the chip's self-test where it has one (SHT3x heater, ADXL345 electrostatic force;
    /// BME280 has none and checks its calibration instead).
    func selfTest() throws -> SelfTestResult
}
