import CLinuxI2C
import HAL

/// One SMBus transfer (an `I2C_SMBUS` ioctl), named as in the SMBus specification and i2c-tools.
public enum SMBusStep: Equatable, Sendable, CustomStringConvertible {
    /// `START addr+W STOP`, no data.
    case quickWrite
    /// `START addr+R byte STOP` ("receive byte").
    case receiveByte
    /// `START addr+W byte STOP` ("send byte").
    case sendByte(UInt8)
    /// `START addr+W command Sr addr+R byte STOP`.
    case readByteData(command: UInt8)
    /// `START addr+W command value STOP`.
    case writeByteData(command: UInt8, value: UInt8)
    /// `START addr+W command Sr addr+R count bytes STOP`, 1…32 bytes.
    case readI2CBlock(command: UInt8, count: Int)
    /// `START addr+W command bytes… STOP`, 1…32 data bytes.
    case writeI2CBlock(command: UInt8, bytes: [UInt8])

    /// The `I2C_SMBUS` ioctl arguments for this step: direction, command, size code, and the
    /// 34-byte `union i2c_smbus_data` image to pass in.
    public var request: SMBusRequest {
        let read = UInt8(CLinuxI2C_SMBUS_READ)
        let write = UInt8(CLinuxI2C_SMBUS_WRITE)
        var data = [UInt8](repeating: 0, count: Int(CLinuxI2C_SMBUS_DATA_SIZE))
        switch self {
        case .quickWrite:
            return SMBusRequest(readWrite: write, command: 0, size: UInt32(CLinuxI2C_SMBUS_QUICK), data: data)
        case .receiveByte:
            return SMBusRequest(readWrite: read, command: 0, size: UInt32(CLinuxI2C_SMBUS_BYTE), data: data)
        case .sendByte(let byte):
            return SMBusRequest(readWrite: write, command: byte, size: UInt32(CLinuxI2C_SMBUS_BYTE), data: data)
        case .readByteData(let command):
            return SMBusRequest(readWrite: read, command: command, size: UInt32(CLinuxI2C_SMBUS_BYTE_DATA), data: data)
        case .writeByteData(let command, let value):
            data[0] = value
            return SMBusRequest(readWrite: write, command: command, size: UInt32(CLinuxI2C_SMBUS_BYTE_DATA), data: data)
        case .readI2CBlock(let command, let count):
            data[0] = UInt8(clamping: count)  // block[0]: how many bytes to read
            return SMBusRequest(readWrite: read, command: command, size: UInt32(CLinuxI2C_SMBUS_I2C_BLOCK_DATA), data: data)
        case .writeI2CBlock(let command, let bytes):
            data[0] = UInt8(clamping: bytes.count)
            for (index, byte) in bytes.prefix(Int(CLinuxI2C_SMBUS_BLOCK_MAX)).enumerated() { data[1 + index] = byte }
            return SMBusRequest(readWrite: write, command: command, size: UInt32(CLinuxI2C_SMBUS_I2C_BLOCK_DATA), data: data)
        }
    }

    /// How many bytes this step reads (0 for writes).
    public var readCount: Int {
        switch self {
        case .receiveByte, .readByteData: 1
        case .readI2CBlock(_, let count): count
        case .quickWrite, .sendByte, .writeByteData, .writeI2CBlock: 0
        }
    }

    /// The bytes read, taken from the `union i2c_smbus_data` image the kernel filled in; `nil` for
    /// a write step or when the adapter returned fewer bytes than asked (block[0] < count).
    public func readResult(_ data: [UInt8]) -> [UInt8]? {
        switch self {
        case .receiveByte, .readByteData:
            return data.first.map { [$0] }
        case .readI2CBlock(_, let count):
            guard let length = data.first, Int(length) >= count, data.count > count else { return nil }
            return Array(data[1...count])
        case .quickWrite, .sendByte, .writeByteData, .writeI2CBlock:
            return nil
        }
    }

    /// i2c-tools wording: `read byte data 0xD0`, `I2C block read 0x88 (26 bytes)`.
    public var description: String {
        switch self {
        case .quickWrite: "quick write"
        case .receiveByte: "receive byte"
        case .sendByte(let byte): "send byte 0x\(hex2(byte))"
        case .readByteData(let command): "read byte data 0x\(hex2(command))"
        case .writeByteData(let command, let value): "write byte data 0x\(hex2(command))=0x\(hex2(value))"
        case .readI2CBlock(let command, let count): "I2C block read 0x\(hex2(command)) (\(count) bytes)"
        case .writeI2CBlock(let command, let bytes): "I2C block write 0x\(hex2(command)) (\(bytes.count) bytes)"
        }
    }
}

/// The arguments of one `I2C_SMBUS` ioctl (`struct i2c_smbus_ioctl_data`), data as bytes.
public struct SMBusRequest: Equatable, Sendable {
    /// `I2C_SMBUS_READ` (1) or `I2C_SMBUS_WRITE` (0).
    public var readWrite: UInt8
    public var command: UInt8
    /// `I2C_SMBUS_QUICK` 0, `BYTE` 1, `BYTE_DATA` 2, `I2C_BLOCK_DATA` 8.
    public var size: UInt32
    /// The 34-byte `union i2c_smbus_data` image (`block[0]` = length for block transfers).
    public var data: [UInt8]
}

/// Why a transaction cannot be sent to an SMBus-only adapter.
public struct SMBusPlanError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Maps an I2C transaction onto SMBus transfers for adapters without `I2C_FUNC_I2C` (pure: no I/O).
///
/// ## Mapping (register-style transactions only)
/// | transaction | SMBus transfer | needs |
/// |---|---|---|
/// | `[write(reg), read(1)]` | read byte data | `READ_BYTE_DATA` (else I2C block read of 1) |
/// | `[write(reg), read(n)]`, 2 ≤ n ≤ 32 | I2C block read | `READ_I2C_BLOCK` |
/// | `[write(reg, v)]` | write byte data | `WRITE_BYTE_DATA` (else I2C block write of 1) |
/// | `[write(reg, v…)]`, 2…32 data bytes | I2C block write | `WRITE_I2C_BLOCK` |
/// | `[read(1)]` | receive byte (the `i2cdetect -r` probe) | `READ_BYTE` |
/// | `[write(b)]` | send byte | `WRITE_BYTE` |
/// | `[write([])]` | quick write (the `i2cdetect -q` probe) | `QUICK` |
///
/// Anything else (plain reads of more than one byte, two-byte commands followed by a read as the
/// SHT3x needs, more than 32 bytes) fails: SMBus cannot express it without changing what is on
/// the wire. Splitting a long read into several block reads would not be one transaction, so it
/// is refused too.
public enum SMBusPlan {
    static let blockMax = Int(CLinuxI2C_SMBUS_BLOCK_MAX)

    public static func plan(_ operations: [I2COperation],
                            functionality: I2CFunctionality) -> Result<[SMBusStep], SMBusPlanError> {
        let step: Result<SMBusStep, SMBusPlanError>
        switch operations.count {
        case 1:
            switch operations[0] {
            case .read(let count): step = planRead(count: count, functionality)
            case .write(let bytes): step = planWrite(bytes, functionality)
            }
        case 2:
            if case .write(let prefix) = operations[0], case .read(let count) = operations[1] {
                step = planRegisterRead(prefix, count: count, functionality)
            } else {
                step = .failure(SMBusPlanError("SMBus has no transfer for \(operations.summary); only a write of a register number followed by a read"))
            }
        case 0:
            step = .failure(SMBusPlanError("an empty transaction has no SMBus equivalent"))
        default:
            step = .failure(SMBusPlanError("SMBus has no transfer for \(operations.count) operations in one transaction (\(operations.summary))"))
        }
        return step.map { [$0] }
    }

    private static func planRead(count: Int, _ functions: I2CFunctionality) -> Result<SMBusStep, SMBusPlanError> {
        guard count == 1 else {
            return .failure(SMBusPlanError("SMBus cannot read \(count) bytes without a register number (only receive byte, 1 byte)"))
        }
        return require(.smbusReadByte, "I2C_FUNC_SMBUS_READ_BYTE", functions, .receiveByte)
    }

    private static func planWrite(_ bytes: [UInt8], _ functions: I2CFunctionality) -> Result<SMBusStep, SMBusPlanError> {
        switch bytes.count {
        case 0:
            return require(.smbusQuick, "I2C_FUNC_SMBUS_QUICK", functions, .quickWrite)
        case 1:
            return require(.smbusWriteByte, "I2C_FUNC_SMBUS_WRITE_BYTE", functions, .sendByte(bytes[0]))
        case 2:
            if functions.contains(.smbusWriteByteData) {
                return .success(.writeByteData(command: bytes[0], value: bytes[1]))
            }
            return require(.smbusWriteI2CBlock, "I2C_FUNC_SMBUS_WRITE_BYTE_DATA or I2C_FUNC_SMBUS_WRITE_I2C_BLOCK",
                           functions, .writeI2CBlock(command: bytes[0], bytes: [bytes[1]]),
                           named: .writeByteData(command: bytes[0], value: bytes[1]))
        case 3...(blockMax + 1):
            return require(.smbusWriteI2CBlock, "I2C_FUNC_SMBUS_WRITE_I2C_BLOCK", functions,
                           .writeI2CBlock(command: bytes[0], bytes: Array(bytes.dropFirst())))
        default:
            return .failure(SMBusPlanError("an I2C block write carries at most \(blockMax) data bytes after the register number; this write has \(bytes.count - 1)"))
        }
    }

    private static func planRegisterRead(_ prefix: [UInt8], count: Int,
                                         _ functions: I2CFunctionality) -> Result<SMBusStep, SMBusPlanError> {
        guard prefix.count == 1 else {
            return .failure(SMBusPlanError("SMBus register reads send one register byte before the read; this transaction sends \(prefix.count) (w[\(prefix.map(hex2).joined(separator: " "))])"))
        }
        let command = prefix[0]
        switch count {
        case 1:
            if functions.contains(.smbusReadByteData) { return .success(.readByteData(command: command)) }
            return require(.smbusReadI2CBlock, "I2C_FUNC_SMBUS_READ_BYTE_DATA or I2C_FUNC_SMBUS_READ_I2C_BLOCK",
                           functions, .readI2CBlock(command: command, count: 1), named: .readByteData(command: command))
        case 2...blockMax:
            return require(.smbusReadI2CBlock, "I2C_FUNC_SMBUS_READ_I2C_BLOCK", functions,
                           .readI2CBlock(command: command, count: count))
        default:
            return .failure(SMBusPlanError("an I2C block read returns 1…\(blockMax) bytes; this read asks for \(count)"))
        }
    }

    /// `step` when the adapter has `needed`; otherwise a refusal naming the transfer (`named`, when the
    /// step is a fallback for it) and the functionality bit that is missing.
    private static func require(_ needed: I2CFunctionality, _ name: String, _ functions: I2CFunctionality,
                                _ step: SMBusStep, named: SMBusStep? = nil) -> Result<SMBusStep, SMBusPlanError> {
        functions.contains(needed) ? .success(step) : .failure(SMBusPlanError("\(named ?? step) needs \(name), which the adapter lacks"))
    }
}
