/// A JSON value that keeps its type: twin documents and patches, method payloads, LocalHub's
/// admin requests, the agent's status file, the spike predictor's model files and predictor.v1
/// frames. Standard library only, so the pure targets (Predictor) can use it too.
///
/// ## Contract
/// - A number with an integral value that fits `Int64` is ``integer(_:)`` (`5`, `5.0` and `5e0`
///   alike, as Foundation's decoder read them); every other number is ``number(_:)``. A
///   ``number(_:)`` with no fraction is written without one (`5`, not `5.0`), so a value read and
///   written again keeps its text. ``doubleValue`` reads either kind.
/// - Objects keep their members in the order they were parsed or built (``JSONObject``);
///   equality ignores that order, as JSON does.
/// - ``parse(_:maxDepth:)`` is strict RFC 8259: one value, no trailing commas, comments, NaN or
///   Infinity; duplicate member names and nesting deeper than `maxDepth` are refused.
/// - ``encoded(sortingKeys:)`` sorts object keys by default, so the same value always gives the
///   same bytes (the bytes Foundation's `JSONEncoder` gives with `.sortedKeys` and
///   `.withoutEscapingSlashes`); `sortingKeys: false` writes members in their stored order.
/// - ``merging(_:)`` is a JSON merge patch (RFC 7386), as IoT Hub applies twin patches:
///   `null` deletes a key, objects merge, anything else replaces.
public enum JSONValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// An object of `members`, stored with sorted keys (a dictionary has no order of its own).
    public static func object(_ members: [String: JSONValue]) -> JSONValue {
        .object(JSONObject(members))
    }

    /// How deep ``parse(_:maxDepth:)`` nests by default: far beyond a twin's 10 levels, and a
    /// bound on the recursion input can cause.
    public static let defaultMaxDepth = 64

    /// Parses UTF-8 JSON text (any value at the top, as RFC 8259 allows).
    public static func parse(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONValueError) -> JSONValue {
        try JSONParser.parse(bytes, maxDepth: maxDepth)
    }

    public static func parse(_ text: String, maxDepth: Int = defaultMaxDepth) throws(JSONValueError) -> JSONValue {
        try parse(Array(text.utf8), maxDepth: maxDepth)
    }

    /// Like ``parse(_:maxDepth:)``, but a value that is well-formed yet cannot be represented
    /// (a number beyond `Double`, a string with invalid UTF-8 or a bad escape) does not fail the
    /// whole text: it reads as `null` and is listed with its member path, so a caller can refuse
    /// that one value and use the rest (one bad desired property must not block the others).
    /// Malformed text still throws.
    public static func parseTolerating(_ bytes: [UInt8], maxDepth: Int = defaultMaxDepth) throws(JSONValueError)
        -> (value: JSONValue, undecodable: [JSONUndecodableValue]) {
        try JSONParser.parseTolerating(bytes, maxDepth: maxDepth)
    }

    /// Compact JSON text: keys sorted, or in stored order with `sortingKeys: false`. A number
    /// that is not finite (which parsing never gives) is written `null`.
    public func encoded(sortingKeys: Bool = true) -> [UInt8] {
        var writer = JSONWriter(sortingKeys: sortingKeys)
        writer.write(self)
        return writer.bytes
    }

    public var description: String { String(decoding: encoded(), as: UTF8.self) }

    /// The member named `key` of an object; `nil` for a missing key or a non-object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// An integer or a number as `Double`; `nil` for every other kind.
    public var doubleValue: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .number(let value): value
        default: nil
        }
    }

    /// An integer, or a number with no fraction, as `Int`; `nil` otherwise.
    public var intValue: Int? {
        switch self {
        case .integer(let value): Int(exactly: value)
        case .number(let value): Int(exactly: value)
        default: nil
        }
    }

    /// The kind of value, for error messages ("not a number", "not null" …).
    public var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The object's members, or `nil` for any other value.
    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members.dictionary }
        return nil
    }

    /// RFC 7386 merge patch of `patch` onto `self`. Members keep their place; new ones follow.
    public func merging(_ patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var members: JSONObject = if case .object(let current) = self { current } else { [:] }
        for (key, value) in changes {
            if value == .null {
                members[key] = nil
            } else {
                members[key] = (members[key] ?? .null).merging(value)
            }
        }
        return .object(members)
    }

    /// Nesting depth in objects (a flat object is 1), as IoT Hub counts it for twins (A.9).
    public var objectDepth: Int {
        switch self {
        case .object(let members): 1 + (members.values.map(\.objectDepth).max() ?? 0)
        case .array(let items): items.map(\.objectDepth).max() ?? 0
        default: 0
        }
    }

    /// `key=value` from the command line: a JSON literal when it parses (`5`, `true`,
    /// `{"a":1}`, `"quoted"`), else the text as a string (`sendFrequency=5s` → `"5s"`).
    public static func fromCommandLine(_ text: String) -> JSONValue {
        (try? parse(text)) ?? .string(text)
    }

    // MARK: Codable (for types that embed a JSONValue and go through an Encoder or Decoder)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .object(let members):
            var container = encoder.container(keyedBy: MemberKey.self)
            for (key, value) in members { try container.encode(value, forKey: MemberKey(key)) }
        default:
            var container = encoder.singleValueContainer()
            switch self {
            case .null: try container.encodeNil()
            case .bool(let value): try container.encode(value)
            case .integer(let value): try container.encode(value)
            case .number(let value):
                if let integer = JSONWriter.integral(value) { try container.encode(integer) } else { try container.encode(value) }
            case .string(let value): try container.encode(value)
            case .array(let value): try container.encode(value)
            case .object: break
            }
        }
    }

    private struct MemberKey: CodingKey {
        var stringValue: String
        init(_ key: String) { stringValue = key }
        init?(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}

/// A well-formed value that ``JSONValue/parseTolerating(_:maxDepth:)`` could not represent.
public struct JSONUndecodableValue: Sendable, Hashable {
    /// Member names (and array indices as decimal text) from the top-level value down.
    public var path: [String]
    public var reason: String

    public init(path: [String], reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// JSON text that does not parse.
public struct JSONValueError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The start of the text (at most 200 bytes), for the message.
    public var text: String
    /// What was wrong where parsing stopped ("expected ',' or '}'").
    public var reason: String
    /// Where parsing stopped, in bytes from the start of the text.
    public var offset: Int

    public var description: String { "not valid JSON (at byte \(offset): \(reason)): \(text)" }
}
