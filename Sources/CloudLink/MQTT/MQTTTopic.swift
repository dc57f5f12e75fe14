/// What is wrong with a topic name or topic filter (MQTT 3.1.1 §4.7). Offsets count UTF-8
/// bytes from the start of the topic.
public enum MQTTTopicError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Topic names and filters need at least one character ([MQTT-4.7.3-1]).
    case empty
    /// More than 65,535 UTF-8 bytes do not fit the length prefix (§1.5.3).
    case tooLong(byteCount: Int)
    /// U+0000 is not allowed in MQTT strings ([MQTT-1.5.3-2]).
    case containsNull(offset: Int)
    /// `+` or `#` in a topic name (PUBLISH, will): wildcards only belong in filters ([MQTT-3.3.2-2]).
    case wildcardInName(offset: Int)
    /// `#` must be the last character and fill its whole level ([MQTT-4.7.1-2]).
    case misplacedMultiLevelWildcard(offset: Int)
    /// `+` must fill its whole level ([MQTT-4.7.1-3]).
    case misplacedSingleLevelWildcard(offset: Int)

    public var description: String {
        switch self {
        case .empty:
            "the topic is empty; MQTT topics need at least one character"
        case .tooLong(let count):
            "the topic is \(count) UTF-8 bytes long; at most 65535 fit an MQTT string"
        case .containsNull(let offset):
            "the topic contains U+0000 at byte \(offset); MQTT strings must not contain it"
        case .wildcardInName(let offset):
            "the topic name has a wildcard ('+' or '#') at byte \(offset); wildcards are only allowed in subscription filters"
        case .misplacedMultiLevelWildcard(let offset):
            "'#' at byte \(offset) is not alone in the last level; write it as '…/#' or '#'"
        case .misplacedSingleLevelWildcard(let offset):
            "'+' at byte \(offset) shares its level with other characters; write it as '…/+/…'"
        }
    }
}

/// Topic name and topic filter rules (MQTT 3.1.1 §4.7) and filter matching.
public enum MQTTTopic {
    private static let slash = UInt8(ascii: "/")
    private static let plus = UInt8(ascii: "+")
    private static let hash = UInt8(ascii: "#")

    /// Checks a topic name as PUBLISH and will messages carry it: non-empty, ≤ 65,535 bytes,
    /// no U+0000, no wildcards.
    public static func validateName(_ name: String) throws(MQTTTopicError) {
        try validateName(utf8: Array(name.utf8))
    }

    /// Checks a topic filter as SUBSCRIBE and UNSUBSCRIBE carry it.
    public static func validateFilter(_ filter: String) throws(MQTTTopicError) {
        try validateFilter(utf8: Array(filter.utf8))
    }

    static func validateName(utf8 bytes: [UInt8]) throws(MQTTTopicError) {
        try validateCommon(bytes)
        if let offset = bytes.firstIndex(where: { $0 == plus || $0 == hash }) {
            throw .wildcardInName(offset: offset)
        }
    }

    static func validateFilter(utf8 bytes: [UInt8]) throws(MQTTTopicError) {
        try validateCommon(bytes)
        for (offset, byte) in bytes.enumerated() {
            let startsLevel = offset == 0 || bytes[offset - 1] == slash
            let endsLevel = offset == bytes.count - 1 || bytes[offset + 1] == slash
            if byte == hash, !(startsLevel && offset == bytes.count - 1) {
                throw .misplacedMultiLevelWildcard(offset: offset)
            }
            if byte == plus, !(startsLevel && endsLevel) {
                throw .misplacedSingleLevelWildcard(offset: offset)
            }
        }
    }

    private static func validateCommon(_ bytes: [UInt8]) throws(MQTTTopicError) {
        if bytes.isEmpty { throw .empty }
        if bytes.count > Int(UInt16.max) { throw .tooLong(byteCount: bytes.count) }
        if let offset = bytes.firstIndex(of: 0) { throw .containsNull(offset: offset) }
    }

    /// Whether `name` matches `filter` (§4.7.1–4.7.2): `+` matches one level, `#` the rest
    /// (including the parent level), and a filter starting with a wildcard never matches a
    /// name starting with `$` ([MQTT-4.7.2-1]). Both arguments are assumed valid.
    public static func matches(filter: String, name: String) -> Bool {
        if name.hasPrefix("$"), filter.hasPrefix("+") || filter.hasPrefix("#") { return false }
        let filterLevels = filter.split(separator: "/", omittingEmptySubsequences: false)
        let nameLevels = name.split(separator: "/", omittingEmptySubsequences: false)
        var index = 0
        while index < filterLevels.count {
            let level = filterLevels[index]
            if level == "#" { return true }
            guard index < nameLevels.count else {
                return false
            }
            if level != "+", level != nameLevels[index] { return false }
            index += 1
        }
        return index == nameLevels.count
    }
}

/// UTF-8 well-formedness as MQTT requires it (§1.5.3): RFC 3629 sequences only, so no
/// overlong forms, no surrogates (U+D800–U+DFFF), nothing above U+10FFFF.
enum MQTTUTF8 {
    /// The index of the first byte that starts or continues an ill-formed sequence, or `nil`.
    static func firstInvalidIndex(_ bytes: ArraySlice<UInt8>) -> Int? {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let lead = bytes[index]
            let length: Int
            var secondRange: ClosedRange<UInt8> = 0x80...0xBF
            switch lead {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; secondRange = 0xA0...0xBF
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; secondRange = 0x80...0x9F
            case 0xF0: length = 4; secondRange = 0x90...0xBF
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; secondRange = 0x80...0x8F
            default: return index
            }
            if length > 1 {
                for position in 1..<length {
                    let at = index + position
                    guard at < bytes.endIndex else { return index }
                    let range = position == 1 ? secondRange : 0x80...0xBF
                    if !range.contains(bytes[at]) { return at }
                }
            }
            index += length
        }
        return nil
    }
}
