import HAL
import SensorCore

/// Everything that can go wrong talking to an SHT3x. Distinct failures have distinct cases:
/// a bus error is never reported as a CRC error, nor a CRC error as a
/// timeout. `description` states what was expected against what came back.
public enum SHT3xError: SensorFailure, Equatable {
    /// The bus transaction failed; the `I2CError` keeps the kind, errno and operation.
    case bus(I2CError)
    /// A word's CRC-8 did not match. `word` counts words in reply order from 0
    /// (measurement: 0 = temperature, 1 = humidity; serial number: 0 = high word).
    case crcMismatch(word: Int, expected: UInt8, actual: UInt8)
    /// The SHT3x has no ID register; its identification is a status-register read whose CRC is
    /// valid. `reply` is what came back instead, `expectedCRC` the CRC its first two bytes
    /// would need. Another chip at this address (or a badly corrupted transfer).
    case notIdentified(reply: [UInt8], expectedCRC: UInt8)
    /// The measurement was still not ready (read NACKed on address) after waiting `timeout`
    /// in total since the command.
    case notReady(timeout: Duration)
    /// The bus returned a different number of bytes than asked for.
    case unexpectedLength(expected: Int, actual: Int)

    public var category: SensorFailureCategory {
        switch self {
        case .bus: .bus
        case .crcMismatch: .checksum
        case .notIdentified: .wrongChip
        case .notReady: .notReady
        case .unexpectedLength: .bus
        }
    }

    public var busError: I2CError? {
        if case .bus(let error) = self { error } else { nil }
    }

    public var description: String {
        switch self {
        case .bus(let error):
            return "SHT3x bus error: \(error)"
        case .crcMismatch(let word, let expected, let actual):
            return "SHT3x CRC mismatch on word \(word): expected 0x\(hex2(expected)), got 0x\(hex2(actual))"
        case .notIdentified(let reply, let expectedCRC):
            let bytes = reply.map(hex2).joined(separator: " ")
            let got = reply.count >= 3 ? "CRC 0x\(hex2(reply[2]))" : "\(reply.count) bytes"
            return "not an SHT3x: status read returned [\(bytes)]; an SHT3x status word carries "
                + "CRC 0x\(hex2(expectedCRC)), got \(got) (another chip at this address?)"
        case .notReady(let timeout):
            return "SHT3x measurement not ready: read still NACKed after \(timeout.milliseconds) ms"
        case .unexpectedLength(let expected, let actual):
            return "SHT3x reply length: expected \(expected) bytes, got \(actual)"
        }
    }
}
