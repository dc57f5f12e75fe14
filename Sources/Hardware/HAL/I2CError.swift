/// A failed I2C transaction: a small closed set of kinds, with the raw cause kept for the message
/// (after embedded-hal's `ErrorKind` and linux-embedded-hal's errno table).
public struct I2CError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum NoAcknowledgeSource: String, Sendable {
        /// Nobody answered the address byte: no chip there, wrong address, wiring, power.
        case address
        /// The chip answered its address but refused a data byte (unknown register or command).
        case data
        case unknown
    }

    public enum Kind: Equatable, Sendable, CustomStringConvertible {
        case noAcknowledge(NoAcknowledgeSource)
        /// The transfer did not complete in time (clock stretched too long, bus stuck).
        case timeout
        /// Misplaced START/STOP or another electrical fault on the bus.
        case bus
        case arbitrationLost
        case overrun
        /// The adapter cannot express this transaction (e.g. an SMBus-only adapter).
        case unsupported
        case other

        public var description: String {
            switch self {
            case .noAcknowledge(.address): "no ACK on address"
            case .noAcknowledge(.data): "no ACK on data"
            case .noAcknowledge(.unknown): "no ACK"
            case .timeout: "timeout"
            case .bus: "bus error"
            case .arbitrationLost: "arbitration lost"
            case .overrun: "overrun"
            case .unsupported: "unsupported by this adapter"
            case .other: "I2C error"
            }
        }
    }

    public var kind: Kind
    /// The bus name (`/dev/i2c-1`).
    public var bus: String
    public var address: I2CAddress
    /// The transaction as it was asked for, e.g. `w[D0] r1`.
    public var operation: String
    /// The errno the kernel gave, when a kernel was involved.
    public var errno: Int32?
    /// Extra words from the backend (the adapter name, the fault that was injected, …).
    public var detail: String?

    public init(_ kind: Kind, bus: String = "", address: I2CAddress, operation: String = "",
                errno: Int32? = nil, detail: String? = nil) {
        self.kind = kind
        self.bus = bus
        self.address = address
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "\(kind) at \(address)"
        if !bus.isEmpty { text += " on \(bus)" }
        if !operation.isEmpty { text += " (\(operation))" }
        if let errno { text += ", errno \(errno)" }
        if let detail { text += ": \(detail)" }
        return text
    }
}

extension [I2COperation] {
    /// `w[D0] r1`: the form used in error messages and scripted tests.
    public var summary: String { map(\.description).joined(separator: " ") }
}
