import HAL
import SensorCore

/// Why a BME280 operation failed. Each case carries what was expected and what was found;
/// `category` is what the sampler and `doctor` act on.
public enum BME280Error: SensorFailure, Equatable {
    /// A bus transaction failed; the `I2CError` says which one and how.
    case bus(I2CError)
    /// The `id` register (0xD0) did not read the variant's chip ID: another chip (or a BMP280) answers.
    case unexpectedChipID(expected: UInt8, actual: UInt8)
    /// A `status` bit stayed set for longer than the bounded wait: `.imUpdate` after a soft reset
    /// (NVM copy), `.measuring` after a forced-mode trigger.
    case notReady(timeout: Duration, waitingFor: BME280.Status)
    /// The calibration (trimming) NVM is blank or unusable, so no value could be compensated.
    case notCalibrated(reason: String)
    /// The chip returned the "skipped" marker (0x80000, 0x8000 for humidity) for a quantity the driver
    /// had enabled: it lost its configuration (power-on reset) since `start()`. Call `start()` again.
    /// Same check as Linux `bmp280-core.c` (`BMP280_TEMP_SKIPPED` …).
    case measurementSkipped(Channel)
    /// The options cannot work (temperature skipped while pressure or humidity need `t_fine`).
    case invalidConfiguration(String)

    public var category: SensorFailureCategory {
        switch self {
        case .bus: .bus
        case .unexpectedChipID: .wrongChip
        case .notReady, .measurementSkipped: .notReady
        case .notCalibrated: .notCalibrated
        case .invalidConfiguration: .configuration
        }
    }

    public var busError: I2CError? {
        if case .bus(let error) = self { error } else { nil }
    }

    private static func milliseconds(_ duration: Duration) -> String {
        let ms = duration.milliseconds
        return ms == ms.rounded() ? "\(Int(ms)) ms" : "\(ms) ms"
    }

    public var description: String {
        switch self {
        case .bus(let error):
            "BME280 bus error: \(error)"
        case .unexpectedChipID(let expected, let actual):
            "unexpected chip ID: expected 0x\(hex2(expected)) at register 0xD0, read 0x\(hex2(actual))"
                + (actual == 0x58 ? " (a BMP280)" : actual == 0x60 ? " (a BME280)" : "")
        case .notReady(let timeout, let bit):
            "BME280 not ready: status \(bit == .imUpdate ? "im_update (NVM copy)" : bit == .measuring ? "measuring" : "0x\(hex2(bit.rawValue))")"
                + " expected clear within \(Self.milliseconds(timeout)), still set"
        case .notCalibrated(let reason):
            "BME280 calibration unusable: \(reason)"
        case .measurementSkipped(let channel):
            "BME280 returned the 'skipped' marker for \(channel) although it was enabled; the chip was probably reset, call start() again"
        case .invalidConfiguration(let reason):
            "BME280 configuration invalid: \(reason)"
        }
    }
}
