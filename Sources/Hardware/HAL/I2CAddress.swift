/// A 7-bit, right-aligned I2C target address (0x00…0x7F), as `i2cdetect` prints it.
///
/// Addresses are 7-bit and right-aligned; the R/W bit is the backend's business.
public struct I2CAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8

    /// Returns `nil` for values above 0x7F (an 8-bit "write address" such as 0xEC is not a 7-bit address).
    public init?(checking value: Int) {
        guard (0...0x7F).contains(value) else { return nil }
        rawValue = UInt8(value)
    }

    /// For literals known at compile time; traps on a value above 0x7F (a programmer error).
    public init(_ literal: UInt8) {
        precondition(literal <= 0x7F, "I2C addresses are 7-bit")
        rawValue = literal
    }

    /// Addresses an `i2cdetect` scan probes by default: 0x08…0x77 (the rest are reserved by the I2C spec).
    public static let scanRange: [I2CAddress] = (0x08...0x77).map { I2CAddress(UInt8($0)) }

    public var description: String { "0x" + hex2(rawValue) }
    public static func < (a: I2CAddress, b: I2CAddress) -> Bool { a.rawValue < b.rawValue }
}

/// Two upper-case hex digits, as i2c-tools print bytes.
public func hex2(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}
