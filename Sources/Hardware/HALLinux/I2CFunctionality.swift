import CLinuxI2C

/// What an I2C adapter can do: the `I2C_FUNCS` mask of `/dev/i2c-N` (the kernel's `I2C_FUNC_*`
/// bits, <linux/i2c.h>). ``LinuxI2CBus`` reads it once at open and chooses the transfer path.
///
/// ## Contract
/// - ``i2c`` (`I2C_FUNC_I2C`) means plain I2C messages: a transaction is one `I2C_RDWR` ioctl.
/// - Without it the adapter is SMBus-only (e.g. `i2c-stub`, some PC SMBus controllers) and only
///   register-style transactions can be expressed (``SMBusPlan``).
public struct I2CFunctionality: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt

    public init(rawValue: UInt) { self.rawValue = rawValue }

    private init(_ bit: Int) { rawValue = UInt(bit) }

    /// Plain I2C messages (`I2C_RDWR`, combined transfers with repeated START).
    public static let i2c = Self(CLinuxI2C_FUNC_I2C)
    public static let tenBitAddresses = Self(CLinuxI2C_FUNC_10BIT_ADDR)
    public static let protocolMangling = Self(CLinuxI2C_FUNC_PROTOCOL_MANGLING)
    public static let smbusPEC = Self(CLinuxI2C_FUNC_SMBUS_PEC)
    public static let noStart = Self(CLinuxI2C_FUNC_NOSTART)
    public static let target = Self(CLinuxI2C_FUNC_SLAVE)
    public static let smbusQuick = Self(CLinuxI2C_FUNC_SMBUS_QUICK)
    /// SMBus "receive byte": one byte read without a command.
    public static let smbusReadByte = Self(CLinuxI2C_FUNC_SMBUS_READ_BYTE)
    /// SMBus "send byte": one byte written without data.
    public static let smbusWriteByte = Self(CLinuxI2C_FUNC_SMBUS_WRITE_BYTE)
    public static let smbusReadByteData = Self(CLinuxI2C_FUNC_SMBUS_READ_BYTE_DATA)
    public static let smbusWriteByteData = Self(CLinuxI2C_FUNC_SMBUS_WRITE_BYTE_DATA)
    public static let smbusReadWordData = Self(CLinuxI2C_FUNC_SMBUS_READ_WORD_DATA)
    public static let smbusWriteWordData = Self(CLinuxI2C_FUNC_SMBUS_WRITE_WORD_DATA)
    public static let smbusProcessCall = Self(CLinuxI2C_FUNC_SMBUS_PROC_CALL)
    public static let smbusReadBlockData = Self(CLinuxI2C_FUNC_SMBUS_READ_BLOCK_DATA)
    public static let smbusWriteBlockData = Self(CLinuxI2C_FUNC_SMBUS_WRITE_BLOCK_DATA)
    /// "I2C block read": command byte, repeated START, up to 32 bytes (register burst reads).
    public static let smbusReadI2CBlock = Self(CLinuxI2C_FUNC_SMBUS_READ_I2C_BLOCK)
    /// "I2C block write": command byte followed by up to 32 data bytes.
    public static let smbusWriteI2CBlock = Self(CLinuxI2C_FUNC_SMBUS_WRITE_I2C_BLOCK)
    public static let smbusHostNotify = Self(CLinuxI2C_FUNC_SMBUS_HOST_NOTIFY)

    /// Each known bit with the name `i2cdetect -F` uses for it, in mask order.
    public static let names: [(Self, String)] = [
        (.i2c, "I2C"),
        (.tenBitAddresses, "10-bit addresses"),
        (.protocolMangling, "protocol mangling"),
        (.smbusPEC, "SMBus PEC"),
        (.noStart, "no START"),
        (.target, "target mode"),
        (.smbusQuick, "SMBus quick command"),
        (.smbusReadByte, "SMBus receive byte"),
        (.smbusWriteByte, "SMBus send byte"),
        (.smbusReadByteData, "SMBus read byte"),
        (.smbusWriteByteData, "SMBus write byte"),
        (.smbusReadWordData, "SMBus read word"),
        (.smbusWriteWordData, "SMBus write word"),
        (.smbusProcessCall, "SMBus process call"),
        (.smbusReadBlockData, "SMBus block read"),
        (.smbusWriteBlockData, "SMBus block write"),
        (.smbusReadI2CBlock, "I2C block read"),
        (.smbusWriteI2CBlock, "I2C block write"),
        (.smbusHostNotify, "SMBus host notify"),
    ]

    /// True when transactions go out as plain I2C (`I2C_RDWR`); false for an SMBus-only adapter.
    public var supportsPlainI2C: Bool { contains(.i2c) }

    /// The names of the capabilities present, in mask order.
    public var capabilities: [String] {
        Self.names.filter { contains($0.0) }.map(\.1)
    }

    /// `0x0C7F0000 (SMBus quick command, SMBus receive byte, …)`.
    public var description: String {
        let hex = String(rawValue, radix: 16, uppercase: true)
        let padded = String(repeating: "0", count: max(0, 8 - hex.count)) + hex
        return "0x\(padded) (\(capabilities.joined(separator: ", ")))"
    }
}
