/// IoT Hub's rule for device ids, the one rule FieldAgent checks a device id against: in board
/// files, agent.yaml, the environment and flags, MQTT topics, LocalHub's registry and
/// development certificates.
///
/// A device id is a case-sensitive string of 1…128 ASCII letters, digits and `- . % _ * ? ! ( ) , : = @ $ '`.
/// IoT Hub's identity registry once also took `+` and `#`; it no longer supports them in device
/// ids, and they are MQTT wildcards, which no topic name may contain (the id is a topic level).
public enum DeviceIDRule {
    public static let maximumLength = 128
    /// Allowed besides ASCII letters and digits.
    public static let punctuation = "-.%_*?!(),:=@$'"

    /// Why `id` is not a valid device id, or nil when it is.
    public static func problem(_ id: String) -> String? {
        if id.isEmpty { return "it is empty" }
        if id.count > maximumLength { return "\(id.count) characters, at most \(maximumLength)" }
        guard let bad = firstDisallowed(in: id) else { return nil }
        let allowed = "'\(bad)' is not allowed (ASCII letters, digits and \(punctuation.map(String.init).joined(separator: " ")))"
        return bad == "+" || bad == "#" ? allowed + "; IoT Hub does not support + or # in device ids (they are MQTT wildcards)" : allowed
    }

    public static func isValid(_ id: String) -> Bool { problem(id) == nil }

    /// Checked byte by byte: ids are checked once per published message, and `Character`
    /// classification showed up in the publish benchmark.
    static func firstDisallowed(in text: String) -> Character? {
        guard text.utf8.contains(where: { !allows($0) }) else { return nil }
        // Only for the message: name the whole character (`e` + a combining accent is one).
        return text.first { $0.asciiValue.map { !allows($0) } ?? true }
    }

    static func allows(_ byte: UInt8) -> Bool {
        byte < 64 ? mask.low & (1 << byte) != 0 : byte < 128 && mask.high & (1 << (byte - 64)) != 0
    }

    /// Letters, digits and ``punctuation`` as a 128-bit set.
    static let mask: (low: UInt64, high: UInt64) = {
        var low: UInt64 = 0, high: UInt64 = 0
        let members = Array("0123456789".utf8) + Array(UInt8(ascii: "a")...UInt8(ascii: "z"))
            + Array(UInt8(ascii: "A")...UInt8(ascii: "Z")) + Array(punctuation.utf8)
        for byte in members {
            if byte < 64 { low |= 1 << byte } else { high |= 1 << (byte - 64) }
        }
        return (low, high)
    }()
}
