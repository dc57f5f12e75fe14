/// Compact JSON text, byte for byte what Foundation's `JSONEncoder` writes with `.sortedKeys` and
/// `.withoutEscapingSlashes` (keys in `String` order; `\b \f \n \r \t` and `\u00xx` for the other
/// control characters; `/` and non-ASCII as they are; a `Double` in its shortest round-trip form).
///
/// Besides whole ``JSONValue``s it writes objects member by member (``beginObject()``,
/// ``key(_:)``, a value, ``endObject()``), for a caller that knows its members and writes them
/// in order without building a value first (the agent's telemetry, one message per sample).
/// Such a caller writes the keys in `String` order itself where it wants sorted output.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    let sortingKeys: Bool

    public init(sortingKeys: Bool, capacity: Int = 256) {
        self.sortingKeys = sortingKeys
        bytes.reserveCapacity(capacity)
    }

    public mutating func beginObject() { bytes.append(UInt8(ascii: "{")) }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")) }

    /// A member's name (and the comma before it unless it is the object's first); its value next.
    public mutating func key(_ name: String) {
        if bytes.last != UInt8(ascii: "{") { bytes.append(UInt8(ascii: ",")) }
        writeString(name)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func write(_ value: String) { writeString(value) }
    public mutating func write(_ value: Double) { writeNumber(value) }
    public mutating func write(_ value: Int64) { append(String(value)) }
    public mutating func write(_ value: Bool) { append(value ? "true" : "false") }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .integer(let n): append(String(n))
        case .number(let d): writeNumber(d)
        case .string(let s): writeString(s)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            let keys = sortingKeys ? members.keys.sorted() : members.keys
            for (i, key) in keys.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(key)
                bytes.append(UInt8(ascii: ":"))
                write(members[key] ?? .null)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// `d` as an integer when it has no fraction and is below 2^53 in magnitude (where every
    /// integer is exact), as JSON has one number type: 5.0 is written 5. Not negative zero,
    /// which `JSONEncoder` writes `-0`.
    static func integral(_ d: Double) -> Int64? {
        d == d.rounded() && abs(d) < 9_007_199_254_740_992 && !(d == 0 && d.sign == .minus) ? Int64(d) : nil
    }

    /// `d` as an `Int64` when it is one exactly. Negative zero is the integer 0, as Foundation's
    /// decoder reads it: `-0` parses as `0`.
    static func exactInteger(_ d: Double) -> Int64? {
        guard d == d.rounded(), d >= -9_223_372_036_854_775_808.0, d < 9_223_372_036_854_775_808.0 else { return nil }
        return Int64(d)
    }

    /// Shortest text that reads back as the same `Double`, as `JSONEncoder` writes it: without a
    /// trailing `.0` (`-0`, `9007199254740992`). JSON has no NaN or infinity, so those become `null`.
    mutating func writeNumber(_ d: Double) {
        guard d.isFinite else { append("null"); return }
        if let integer = Self.integral(d) { append(String(integer)); return }
        let text = d.description
        append(text.hasSuffix(".0") ? String(text.dropLast(2)) : text)
    }

    mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x08: append("\\b")
            case 0x0C: append("\\f")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                append("\\u00")
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func append(_ s: String) {
        bytes.append(contentsOf: s.utf8)
    }
}
