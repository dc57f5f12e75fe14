/// Checks for the identifiers that go into IoT Hub topics and user names, so a bad one fails
/// here with its reason instead of at the hub (or as an invalid MQTT topic).
enum IoTHubIdentifier {
    static func validateDeviceID(_ id: String) throws(IoTHubError) {
        if let reason = identifierProblem(id) { throw .invalidDeviceID(id, reason: reason) }
    }

    static func validateModuleID(_ id: String) throws(IoTHubError) {
        if let reason = identifierProblem(id) { throw .invalidModuleID(id, reason: reason) }
    }

    /// Device and module ids: 1…128 ASCII letters, digits and `- . % _ * ? ! ( ) , : = @ $ '`.
    /// That excludes `/`, `+`, `#` and space, so the id is always one MQTT topic level.
    private static func identifierProblem(_ id: String) -> String? {
        if id.isEmpty { return "it is empty" }
        if id.count > IoTHubLimits.maximumDeviceIDLength {
            return "\(id.count) characters, at most \(IoTHubLimits.maximumDeviceIDLength)"
        }
        if let bad = id.first(where: { !(($0.isASCII && ($0.isLetter || $0.isNumber)) || IoTHubLimits.deviceIDPunctuation.contains($0)) }) {
            return "'\(bad)' is not allowed (ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ ')"
        }
        return nil
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
