import DeviceID

/// Checks for the identifiers that go into IoT Hub topics and user names, so a bad one fails
/// here with its reason instead of at the hub (or as an invalid MQTT topic).
enum IoTHubIdentifier {
    static func validateDeviceID(_ id: String) throws(IoTHubError) {
        if let reason = identifierProblem(id) { throw .invalidDeviceID(id, reason: reason) }
    }

    static func validateModuleID(_ id: String) throws(IoTHubError) {
        if let reason = identifierProblem(id) { throw .invalidModuleID(id, reason: reason) }
    }

    /// Device and module ids follow IoT Hub's device-id rule (``DeviceIDRule``): it excludes `/`,
    /// `+`, `#` and space, so the id is always one MQTT topic level.
    private static func identifierProblem(_ id: String) -> String? {
        DeviceIDRule.problem(id)
    }

    static let messageIDPunctuation = ASCIISet(IoTHubLimits.messageIDPunctuation)

    /// The first character of `text` that is neither an ASCII letter or digit nor in
    /// `punctuation`. Checked byte by byte (every allowed character is one ASCII byte; ids are
    /// checked once per message, and `Character.isLetter` showed up in the publish benchmark).
    static func firstDisallowed(in text: String, punctuation: ASCIISet) -> Character? {
        func disallowed(_ byte: UInt8) -> Bool {
            !(byte >= 0x30 && byte <= 0x39) && !(byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) && !punctuation.contains(byte)
        }
        guard text.utf8.contains(where: disallowed) else { return nil }
        // Only for the error: name the whole character (`e` + a combining accent is one).
        return text.first { $0.asciiValue.map(disallowed) ?? true }
    }

    /// `$rid`: 1…128 printable ASCII characters without `&` (ends the field), `/`, `?`, `#`, `+`.
    static func validateRequestID(_ rid: String) throws(IoTHubError) {
        let forbidden: Set<UInt8> = [UInt8(ascii: "&"), UInt8(ascii: "/"), UInt8(ascii: "?"),
                                     UInt8(ascii: "#"), UInt8(ascii: "+")]
        let bytes = Array(rid.utf8)
        guard !bytes.isEmpty, bytes.count <= 128,
              bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !forbidden.contains($0) }) else {
            throw .invalidRequestID(rid)
        }
    }

    /// A.11: printable US-ASCII except space, tab and `$ ( ) < > @ , ; : \ " / [ ] ? = { }`.
    static func validateMethodName(_ name: String) throws(IoTHubError) {
        guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }),
              !name.contains(where: { IoTHubLimits.methodNameForbidden.contains($0) }) else {
            throw .invalidMethodName(name)
        }
    }
}

/// A set of ASCII characters as a 128-bit mask.
struct ASCIISet: Sendable {
    private var low: UInt64 = 0
    private var high: UInt64 = 0

    /// Only ASCII characters can be members; any other would never match a byte, so it is left
    /// out (an id using it is refused, the safe side).
    init(_ characters: Set<Character>) {
        for ascii in characters.compactMap(\.asciiValue) {
            if ascii < 64 { low |= 1 << ascii } else { high |= 1 << (ascii - 64) }
        }
    }

    func contains(_ byte: UInt8) -> Bool {
        byte < 64 ? low & (1 << byte) != 0 : byte < 128 && high & (1 << (byte - 64)) != 0
    }
}
