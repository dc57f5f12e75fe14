import HAL
import SensorCore

/// Everything that can go wrong talking to an SCD4x. Distinct failures have distinct cases: a bus
/// error is never reported as a CRC error, nor a CRC error as a timeout. `description` states what
/// was expected against what came back.
public enum SCD4xError: SensorFailure, Equatable {
    /// The bus transaction failed; the `I2CError` keeps the kind, errno and operation. A command
    /// the chip refuses (unknown, or not allowed while it measures) is `.noAcknowledge(.data)`;
    /// a read with no new measurement is NACKed as well.
    case bus(I2CError)
    /// A word's CRC-8 did not match. `word` counts words in reply order from 0
    /// (measurement: 0 = CO2, 1 = temperature, 2 = humidity; serial number: 0 = high word).
    case crcMismatch(word: Int, expected: UInt8, actual: UInt8)
    /// The SCD4x has no ID register; its identification is a get_serial_number reply whose three
    /// CRCs are valid. `reply` is what came back, `word` the first word whose CRC is wrong and
    /// `expectedCRC` the CRC it would need. Another chip at 0x62 (or a badly corrupted transfer).
    case notIdentified(reply: [UInt8], word: Int, expectedCRC: UInt8)
    /// get_data_ready_status still said "not ready" after waiting `timeout` in total.
    case notReady(timeout: Duration)
    /// The bus returned a different number of bytes than asked for.
    case unexpectedLength(expected: Int, actual: Int)
    /// `command` is not available on this `variant` (single shot exists on the SCD41 only).
    case unsupported(command: String, variant: String)
    /// A setting outside what the chip accepts; nothing was sent.
    case outOfRange(setting: String, value: Double, allowed: ClosedRange<Double>)

    public var category: SensorFailureCategory {
        switch self {
        case .bus, .unexpectedLength: .bus
        case .crcMismatch: .checksum
        case .notIdentified: .wrongChip
        case .notReady: .notReady
        case .unsupported, .outOfRange: .configuration
        }
    }

    public var busError: I2CError? {
        if case .bus(let error) = self { error } else { nil }
    }

    public var description: String {
        switch self {
        case .bus(let error):
            return "SCD4x bus error: \(error)"
        case .crcMismatch(let word, let expected, let actual):
            return "SCD4x CRC mismatch on word \(word): expected 0x\(hex2(expected)), got 0x\(hex2(actual))"
        case .notIdentified(let reply, let word, let expectedCRC):
            let bytes = reply.map(hex2).joined(separator: " ")
            let got = reply.count > word * 3 + 2 ? "0x\(hex2(reply[word * 3 + 2]))" : "nothing"
            return "not an SCD4x: get_serial_number returned [\(bytes)]; word \(word) needs CRC "
                + "0x\(hex2(expectedCRC)), got \(got) (another chip at this address?)"
        case .notReady(let timeout):
            return "SCD4x measurement not ready: get_data_ready_status still 'not ready' after \(timeout.milliseconds) ms"
        case .unexpectedLength(let expected, let actual):
            return "SCD4x reply length: expected \(expected) bytes, got \(actual)"
        case .unsupported(let command, let variant):
            return "\(command) is not available on an \(variant) (single shot needs an SCD41)"
        case .outOfRange(let setting, let value, let allowed):
            return "SCD4x \(setting) \(value) is outside \(allowed.lowerBound)…\(allowed.upperBound)"
        }
    }
}
