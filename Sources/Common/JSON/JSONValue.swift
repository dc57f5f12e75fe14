#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A JSON value that keeps its type: twin documents and patches, method payloads, LocalHub's
/// admin requests, the agent's status file. A twin's desired value must be told apart as string,
/// integer, number, boolean, null or object (`JSONSerialization`'s NSNumber blurs them), and
/// LocalHub must hand back `5` as `5`, not `5.0`.
///
/// The agent and LocalHub share this one type. The spike predictor keeps its own standard-library
/// parser (`Predictor.JSONParser`): it is compiled without Foundation and keeps members in
/// document order for its model files.
///
/// ## Contract
/// - Integers that fit `Int64` stay integers (`5` is not re-encoded as `5.0`); other numbers
///   are `Double`, and a `Double` with no fraction is written without one.
/// - ``encoded()`` sorts object keys, so the same value always gives the same bytes.
/// - ``merging(_:)`` is a JSON merge patch (RFC 7386), as IoT Hub applies twin patches
///   (reference A.9): `null` deletes a key, objects merge, anything else replaces.
public enum JSONValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

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
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value):
            // JSON has one number type: 5.0 is written 5, as the agent's acks always were.
            if value.rounded() == value, abs(value) < 9_007_199_254_740_992 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses UTF-8 JSON text (any value at the top, as RFC 8259 allows).
    public static func parse(_ bytes: [UInt8]) throws(JSONValueError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw JSONValueError(text: String(decoding: bytes.prefix(200), as: UTF8.self), reason: "\(error)")
        }
    }

    public static func parse(_ text: String) throws(JSONValueError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Compact JSON with sorted keys.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every case encodes (NaN and infinity cannot come from parsed JSON; a caller that builds
        // one gets `null` rather than a crash).
        return (try? Array(encoder.encode(self))) ?? Array("null".utf8)
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
        if case .object(let members) = self { return members }
        return nil
    }

    /// RFC 7386 merge patch of `patch` onto `self`.
    public func merging(_ patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var members = objectValue ?? [:]
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
}

/// JSON text that does not parse.
public struct JSONValueError: Error, Sendable, Hashable, CustomStringConvertible {
    public var text: String
    public var reason: String

    public var description: String { "not valid JSON (\(reason)): \(text)" }
}
