/// One step of an I2C transaction. Consecutive operations are joined by a repeated START; the
/// transaction ends with a STOP.
public enum I2COperation: Equatable, Sendable, CustomStringConvertible {
    /// Send these bytes to the target (each must be ACKed).
    case write([UInt8])
    /// Clock in this many bytes from the target (the controller ACKs all but the last).
    case read(count: Int)

    /// The operations of ``I2CBus/writeRead(_:_:count:)``: write `bytes`, then read `count` bytes.
    public static func writeRead(_ bytes: [UInt8], count: Int) -> [I2COperation] {
        [.write(bytes), .read(count: count)]
    }

    public var description: String {
        switch self {
        case .write(let bytes): "w[" + bytes.map(hex2).joined(separator: " ") + "]"
        case .read(let count): "r\(count)"
        }
    }
}

/// An I2C controller (a bus). The only required operation is ``transaction(_:_:)``; `read`,
/// `write` and `writeRead` are conveniences on top of it (after embedded-hal's `I2c`).
///
/// ## Contract
/// - Wire sequence of `transaction(addr, [.write(a), .read(count: n)])`:
///   `START addr+W a… Sr addr+R b₀…bₙ₋₁ STOP` — one repeated start between operations, one stop at the end.
/// - Returns one byte array per `.read` operation, in order; writes return nothing.
/// - Throws ``I2CError``. An absent target is `.noAcknowledge(.address)`, never an empty result.
/// - Implementations serialize transactions: a driver never locks, shares or re-opens the bus.
///   The Linux backend sends one transaction as one `I2C_RDWR` ioctl; the
///   simulated bus routes it to a chip model.
public protocol I2CBus: AnyObject, Sendable {
    /// The bus as people know it: `/dev/i2c-1`, or `sim:i2c-1` for a simulated board.
    var name: String { get }

    func transaction(_ address: I2CAddress, _ operations: [I2COperation]) throws(I2CError) -> [[UInt8]]
}

extension I2CBus {
    /// `START addr+W bytes STOP`.
    public func write(_ address: I2CAddress, _ bytes: [UInt8]) throws(I2CError) {
        _ = try transaction(address, [.write(bytes)])
    }

    /// `START addr+R n bytes STOP`.
    public func read(_ address: I2CAddress, count: Int) throws(I2CError) -> [UInt8] {
        try transaction(address, [.read(count: count)]).first ?? []
    }

    /// `START addr+W bytes Sr addr+R n bytes STOP`: the usual "set register pointer, read" access.
    public func writeRead(_ address: I2CAddress, _ bytes: [UInt8], count: Int) throws(I2CError) -> [UInt8] {
        try writeRead(address, I2COperation.writeRead(bytes, count: count))
    }

    /// ``writeRead(_:_:count:)`` with operations built beforehand by ``I2COperation/writeRead(_:count:)``:
    /// a driver repeating one read (a FIFO drain, one transaction per entry) builds them once.
    public func writeRead(_ address: I2CAddress, _ operations: [I2COperation]) throws(I2CError) -> [UInt8] {
        try transaction(address, operations).first ?? []
    }

    /// Probes an address the way `i2cdetect` does by default: a zero-length write (SMBus quick
    /// write), except at 0x30–0x37 and 0x50–0x5F where a one-byte read is used because a quick
    /// write can corrupt EEPROMs there. Command-based chips such as the SHT3x NACK a read with
    /// nothing to send, so a read-only probe would miss them.
    /// Returns `false` only for an address NACK; any other failure is thrown.
    public func probe(_ address: I2CAddress) throws(I2CError) -> Bool {
        let readProbe = (0x30...0x37).contains(address.rawValue) || (0x50...0x5F).contains(address.rawValue)
        do {
            if readProbe {
                _ = try read(address, count: 1)
            } else {
                try write(address, [])
            }
            return true
        } catch where error.kind == .noAcknowledge(.address) {
            return false
        }
    }
}
