import HAL

// SHT3x command words and status bits, transcribed from the Sensirion SHT3x-DIS datasheet
// (v5, May 2018, §4) and Sensirion's reference driver. The SHT3x has no register map: every access
// is a 16-bit command sent MSB first, optionally followed by a read of CRC-protected words.

/// A 16-bit SHT3x command. Sent as two bytes, MSB first (datasheet §4.2, "16-bit commands").
public struct SHT3xCommand: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// The bytes on the wire: `[MSB, LSB]`.
    public var bytes: [UInt8] { [UInt8(rawValue >> 8), UInt8(rawValue & 0xFF)] }

    public var description: String { "0x" + hex2(bytes[0]) + hex2(bytes[1]) }

    // MARK: Single shot (datasheet §4.3, Table 9)

    /// High repeatability, clock stretching disabled: the driver polls (15 ms conversion).
    public static let singleShotHighNoStretch = SHT3xCommand(rawValue: 0x2400)
    public static let singleShotMediumNoStretch = SHT3xCommand(rawValue: 0x240B)
    public static let singleShotLowNoStretch = SHT3xCommand(rawValue: 0x2416)
    public static let singleShotHighStretch = SHT3xCommand(rawValue: 0x2C06)
    public static let singleShotMediumStretch = SHT3xCommand(rawValue: 0x2C0D)
    public static let singleShotLowStretch = SHT3xCommand(rawValue: 0x2C10)

    // MARK: Periodic mode (datasheet §4.5–4.8, Tables 10–13); not used by this driver.

    /// Fetch the latest periodic result (datasheet §4.6, Table 11).
    public static let fetchData = SHT3xCommand(rawValue: 0xE000)
    /// Stop periodic acquisition (datasheet §4.8, Table 13).
    public static let `break` = SHT3xCommand(rawValue: 0x3093)

    // MARK: Housekeeping

    /// Soft reset (datasheet §4.9, Table 14). Resets the status register; the chip needs up to
    /// 1.5 ms (t_SR) before it accepts the next command.
    public static let softReset = SHT3xCommand(rawValue: 0x30A2)
    /// Heater on (datasheet §4.10, Table 16).
    public static let heaterEnable = SHT3xCommand(rawValue: 0x306D)
    /// Heater off (datasheet §4.10, Table 16).
    public static let heaterDisable = SHT3xCommand(rawValue: 0x3066)
    /// Read the status register: one word + CRC (datasheet §4.11, Table 17).
    public static let readStatus = SHT3xCommand(rawValue: 0xF32D)
    /// Clear status flags 15, 11, 10 and 4 (datasheet §4.11, Table 19).
    public static let clearStatus = SHT3xCommand(rawValue: 0x3041)
    /// Read the 32-bit serial number: two words, each + CRC (Sensirion `sht3x.c`, the SHT3x datasheet).
    public static let readSerialNumber = SHT3xCommand(rawValue: 0x3780)
}

/// The SHT3x status register (datasheet §4.11, Table 18). Reserved bits are kept in `rawValue`
/// but have no name.
public struct SHT3xStatus: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// Bit 15: at least one alert is pending (default 1 after reset).
    public static let alertPending = SHT3xStatus(rawValue: 1 << 15)
    /// Bit 13: the heater is on.
    public static let heaterOn = SHT3xStatus(rawValue: 1 << 13)
    /// Bit 11: humidity tracking alert.
    public static let humidityTrackingAlert = SHT3xStatus(rawValue: 1 << 11)
    /// Bit 10: temperature tracking alert.
    public static let temperatureTrackingAlert = SHT3xStatus(rawValue: 1 << 10)
    /// Bit 4: a reset (hard, soft or supply fail) happened since the last "clear status".
    public static let systemResetDetected = SHT3xStatus(rawValue: 1 << 4)
    /// Bit 1: the last command was not processed (invalid or failed its built-in checksum).
    public static let commandNotProcessed = SHT3xStatus(rawValue: 1 << 1)
    /// Bit 0: the checksum of the last write transfer was wrong.
    public static let writeChecksumWrong = SHT3xStatus(rawValue: 1 << 0)

    private static let names: [(SHT3xStatus, String)] = [
        (.alertPending, "alertPending"), (.heaterOn, "heaterOn"),
        (.humidityTrackingAlert, "humidityTrackingAlert"), (.temperatureTrackingAlert, "temperatureTrackingAlert"),
        (.systemResetDetected, "systemResetDetected"), (.commandNotProcessed, "commandNotProcessed"),
        (.writeChecksumWrong, "writeChecksumWrong"),
    ]

    /// `0x8010 [alertPending, systemResetDetected]`.
    public var description: String {
        let set = Self.names.filter { contains($0.0) }.map(\.1)
        return "0x" + hex2(UInt8(rawValue >> 8)) + hex2(UInt8(rawValue & 0xFF)) + " [" + set.joined(separator: ", ") + "]"
    }
}

/// Single-shot repeatability and its conversion time. The driver uses `.high`.
public enum SHT3xRepeatability: Sendable, CaseIterable {
    case high, medium, low

    /// The no-clock-stretching command (datasheet Table 9).
    public var command: SHT3xCommand {
        switch self {
        case .high: .singleShotHighNoStretch
        case .medium: .singleShotMediumNoStretch
        case .low: .singleShotLowNoStretch
        }
    }

    /// Maximum measurement duration (datasheet Table 4; Linux `SHT3X_NONBLOCKING_WAIT_TIME_*`).
    public var conversionTime: Duration {
        switch self {
        case .high: .milliseconds(15)
        case .medium: .milliseconds(6)
        case .low: .milliseconds(4)
        }
    }
}

/// Possible SHT3x addresses: ADDR pin low / high (datasheet §3, Table 7 note).
public enum SHT3xAddress {
    public static let addrLow: I2CAddress = I2CAddress(UInt8(0x44))
    public static let addrHigh: I2CAddress = I2CAddress(UInt8(0x45))
    public static let all = [addrLow, addrHigh]
}
