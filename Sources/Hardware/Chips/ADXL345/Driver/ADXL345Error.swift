import HAL
import SensorCore

/// Why an ADXL345 operation failed. Each failure has its own case with the data a technician
/// needs; `description` states what was expected and what happened.
public enum ADXL345Error: SensorFailure, Equatable {
    /// A bus transaction failed; the `I2CError` says how (NACK on address: nothing at 0x53/0x1D).
    case bus(I2CError)
    /// DEVID (register 0x00) did not read 0xE5: another chip answers at this address.
    case unexpectedChipID(expected: UInt8, actual: UInt8)
    /// The FIFO did not deliver `expected` samples within `timeout` (only `received` came): the
    /// part is in standby (reset or brown-out since `start()`), or its clock is not running.
    case notReady(timeout: Duration, received: Int, expected: Int)
    /// `sample()` or `selfTest()` was called before a successful `start()`.
    case notStarted
    /// The options ask for something the part or the procedure cannot do.
    case invalidConfiguration(String)

    public var category: SensorFailureCategory {
        switch self {
        case .bus: .bus
        case .unexpectedChipID: .wrongChip
        case .notReady: .notReady
        case .notStarted, .invalidConfiguration: .configuration
        }
    }

    public var busError: I2CError? {
        if case .bus(let error) = self { error } else { nil }
    }

    public var description: String {
        switch self {
        case .bus(let error):
            "ADXL345: \(error)"
        case .unexpectedChipID(let expected, let actual):
            "ADXL345: DEVID (register 0x00) reads 0x\(hex2(actual)), expected 0x\(hex2(expected)); "
                + "the chip at this address is not an ADXL345"
        case .notReady(let timeout, let received, let expected):
            "ADXL345: FIFO delivered \(received) of \(expected) samples within \(timeout); "
                + "expected a full window at the configured data rate (chip in standby or reset since start()?)"
        case .notStarted:
            "ADXL345: not configured; call start() first (expected a successful start(), none happened)"
        case .invalidConfiguration(let reason):
            "ADXL345: invalid configuration: \(reason)"
        }
    }
}
