/// Message properties (IoT Hub system and application properties) kept with a message, in order.
///
/// The outbox does not interpret them; it stores them in a compact form (see
/// ``encoded()``) so that a typical telemetry message stays under 300 bytes on disk.
public struct OutboxProperties: Sendable, Equatable, ExpressibleByDictionaryLiteral, Sequence {
    public struct Property: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public var properties: [Property]

    public init(_ properties: [Property] = []) {
        self.properties = properties
    }

    /// Keeps the literal's order: `["$.ct": "application/json", "$.ce": "utf-8"]`.
    public init(dictionaryLiteral elements: (String, String)...) {
        properties = elements.map { Property(name: $0.0, value: $0.1) }
    }

    public subscript(name: String) -> String? {
        properties.first { $0.name == name }?.value
    }

    public var isEmpty: Bool { properties.isEmpty }

    public func makeIterator() -> IndexingIterator<[Property]> { properties.makeIterator() }

    // MARK: Compact encoding

    /// Strings that stand for themselves as one byte (`0x80 + index`). **Append only**: the index
    /// is on disk, so reordering or removing an entry would change stored messages' meaning.
    static let tokens: [String] = [
        "$.ct", "$.ce", "$.mid", "$.cid", "$.ctime", "$.sub", "$.on",
        "application/json", "utf-8", "utf-16", "utf-32", "text/plain", "application/octet-stream",
        "kind", "aggregate", "alert",
    ]
    private static let tokenIndex: [String: UInt8] = {
        var index: [String: UInt8] = [:]
        for (offset, token) in tokens.enumerated() { index[token] = UInt8(offset) }
        return index
    }()

    /// The longest name or value the encoding holds.
    public static let maximumLength = Int(UInt16.max)

    /// The properties as stored: per string, one byte `0x00–0x7F` (a literal of that many UTF-8
    /// bytes follows), `0x80–0xBF` (a token from ``tokens``), or `0xFF` followed by a big-endian
    /// 16-bit length and the UTF-8 bytes; names and values alternate. No properties: no bytes.
    func encoded() throws(OutboxError) -> [UInt8] {
        var bytes: [UInt8] = []
        for property in properties {
            try Self.append(property.name, to: &bytes)
            try Self.append(property.value, to: &bytes)
        }
        return bytes
    }

    var encodedSize: Int { (try? encoded().count) ?? 0 }

    private static func append(_ text: String, to bytes: inout [UInt8]) throws(OutboxError) {
        if let token = tokenIndex[text] {
            bytes.append(0x80 + token)
            return
        }
        let utf8 = Array(text.utf8)
        switch utf8.count {
        case ..<0x80:
            bytes.append(UInt8(utf8.count))
        case ...maximumLength:
            bytes.append(0xFF)
            bytes.append(UInt8(utf8.count >> 8))
            bytes.append(UInt8(utf8.count & 0xFF))
        default:
            throw OutboxError(.propertyTooLong,
                              "a message property is \(utf8.count) bytes long (\"\(text.prefix(40))…\"); the outbox keeps at most \(maximumLength) bytes per name or value: shorten it")
        }
        bytes.append(contentsOf: utf8)
    }

    /// Decodes ``encoded()``; `nil` when the bytes are not in that form (a damaged row).
    static func decode(_ bytes: [UInt8]) -> OutboxProperties? {
        var strings: [String] = []
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            index += 1
            let length: Int
            switch lead {
            case 0x80...0xBF:
                let token = Int(lead - 0x80)
                guard token < tokens.count else { return nil }
                strings.append(tokens[token])
                continue
            case ..<0x80:
                length = Int(lead)
            case 0xFF:
                guard index + 2 <= bytes.count else { return nil }
                length = Int(bytes[index]) << 8 | Int(bytes[index + 1])
                index += 2
            default:
                return nil
            }
            guard index + length <= bytes.count else { return nil }
            guard let text = String(validating: bytes[index..<index + length], as: UTF8.self) else { return nil }
            strings.append(text)
            index += length
        }
        guard strings.count.isMultiple(of: 2) else { return nil }
        return OutboxProperties(stride(from: 0, to: strings.count, by: 2).map {
            Property(name: strings[$0], value: strings[$0 + 1])
        })
    }
}
