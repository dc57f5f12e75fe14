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
    public var readOnly: Set<UInt8> = [] { didSet { flags = Self.table(readOnly, nackOnWrite) } }
    /// Writes to these are NACKed (`.noAcknowledge(.data)`), as some chips do for reserved addresses.
    public var nackOnWrite: Set<UInt8> = [] { didSet { flags = Self.table(readOnly, nackOnWrite) } }
    /// Called after a byte is stored at a register: `(register, value)`.
    public var onWrite: [UInt8: (UInt8) -> Void] = [:] { didSet { writeHooks = Self.table(onWrite) } }
    /// Supplies the value of a register at read time (status bits, FIFO pops); `nil` falls back to the stored byte.
    public var onRead: [UInt8: () -> UInt8] = [:] { didSet { readHooks = Self.table(onRead) } }

    // The sets and hooks above indexed by register: a simulated FIFO is read byte by byte, tens of
    // thousands of times per simulated second.
    private static let readOnlyFlag: UInt8 = 1, nackFlag: UInt8 = 2
    private var flags = [UInt8](repeating: 0, count: 256)
    private var writeHooks = [((UInt8) -> Void)?](repeating: nil, count: 256)
    private var readHooks = [(() -> UInt8)?](repeating: nil, count: 256)

    private static func table<Hook>(_ hooks: [UInt8: Hook]) -> [Hook?] {
        var table = [Hook?](repeating: nil, count: 256)
        for (register, hook) in hooks { table[Int(register)] = hook }
        return table
    }

    private static func table(_ readOnly: Set<UInt8>, _ nack: Set<UInt8>) -> [UInt8] {
        var table = [UInt8](repeating: 0, count: 256)
        for register in readOnly { table[Int(register)] |= readOnlyFlag }
        for register in nack { table[Int(register)] |= nackFlag }
        return table
    }
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
        values.withUnsafeBytes { store($0, at: start) }
    }

    /// Stores `values` from `start` on without hooks, in one copy (a FIFO pop fills six data
    /// registers, thousands of times a message).
    public func store(_ values: UnsafeRawBufferPointer, at start: UInt8) {
        bytes.withUnsafeMutableBytes { storage in
            let count = min(values.count, storage.count - Int(start))
            guard count > 0, let source = values.baseAddress, let target = storage.baseAddress else { return }
            (target + Int(start)).copyMemory(from: source, byteCount: count)
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
            let flags = flags[Int(pointer)]
            if flags & Self.nackFlag != 0 { throw I2CError(.noAcknowledge(.data), address: I2CAddress(0)) }
            if flags & Self.readOnlyFlag == 0 {
                bytes[Int(pointer)] = value
                writeHooks[Int(pointer)]?(value)
            }
            pointer &+= 1
        }
    }

    /// Bus face: `count` bytes from the pointer on, each from its read hook if it has one.
    /// A hook may change the stored bytes (a FIFO pop fills the data registers), never the pointer.
    public func busRead(count: Int) -> [UInt8] {
        let hooks = readHooks, step: UInt8 = autoIncrement ? 1 : 0
        var register = pointer
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for _ in 0..<max(0, count) {
            out.append(hooks[Int(register)]?() ?? bytes[Int(register)])
            register &+= step
        }
        pointer = register
        return out
    }
}
