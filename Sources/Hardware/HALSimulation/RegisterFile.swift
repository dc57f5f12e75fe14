import HAL

/// An 8-bit register map behind a register pointer, the way most I2C sensors work (BME280,
/// ADXL345): the first written byte sets the pointer, further bytes are written at the pointer
/// with auto-increment, and reads return bytes from the pointer with auto-increment.
///
/// Models describe their chip with it: read-only and reserved registers, and hooks for registers
/// with side effects (a write to `ctrl_meas` starting a conversion, a read of the FIFO popping it).
public final class RegisterFile: @unchecked Sendable {
    public private(set) var bytes: [UInt8]
    public var pointer: UInt8 = 0
    /// Writes to these are ignored (ID, calibration, data registers).
    public var readOnly: Set<UInt8> = []
    /// Writes to these are NACKed (`.noAcknowledge(.data)`), as some chips do for reserved addresses.
    public var nackOnWrite: Set<UInt8> = []
    /// Called after a byte is stored at a register: `(register, value)`.
    public var onWrite: [UInt8: (UInt8) -> Void] = [:]
    /// Supplies the value of a register at read time (status bits, FIFO pops); `nil` falls back to the stored byte.
    public var onRead: [UInt8: () -> UInt8] = [:]
    /// When false the pointer does not advance on reads (a FIFO data register read repeatedly).
    public var autoIncrement = true

    public init(size: Int = 256, fill: UInt8 = 0) {
        bytes = Array(repeating: fill, count: size)
    }

    public subscript(register: UInt8) -> UInt8 {
        get { bytes[Int(register)] }
        set { bytes[Int(register)] = newValue }
    }

    /// Stores `values` from `start` on without hooks (model-internal updates).
    public func load(_ values: [UInt8], at start: UInt8) {
        for (i, v) in values.enumerated() where Int(start) + i < bytes.count {
            bytes[Int(start) + i] = v
        }
    }

    public func slice(_ start: UInt8, count: Int) -> [UInt8] {
        Array(bytes[Int(start)..<min(bytes.count, Int(start) + count)])
    }

    /// Bus face: the first byte is the pointer, the rest are data.
    public func busWrite(_ data: [UInt8]) throws(I2CError) {
        guard let first = data.first else { return }
        pointer = first
        for value in data.dropFirst() {
            if nackOnWrite.contains(pointer) { throw I2CError(.noAcknowledge(.data), address: I2CAddress(0)) }
            if !readOnly.contains(pointer) {
                bytes[Int(pointer)] = value
                onWrite[pointer]?(value)
            }
            pointer &+= 1
        }
    }

    public func busRead(count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            out.append(onRead[pointer]?() ?? bytes[Int(pointer)])
            if autoIncrement { pointer &+= 1 }
        }
        return out
    }
}
