/// An IoT Hub property bag: `name=value&name2=value2`, each part percent-encoded (protocol
/// sheet A.7, A.8). Order is kept; a name may repeat.
///
/// ## Contract
/// - ``encoded`` percent-encodes names and values (so `$.ct` is written `%24.ct`, as the
///   Embedded C SDK does). A `nil` value is written as the bare name, an empty one as `name=`.
/// - ``init(parsing:)`` is defensive (A.8): a leading `?` is skipped, empty segments are
///   skipped, each segment is split at its first `=`, then percent-decoded. Both `$.ct` and
///   `%24.ct` therefore read as `$.ct`.
public struct IoTHubPropertyBag: Sendable, Hashable {
    public struct Entry: Sendable, Hashable {
        public var name: String
        /// `nil`: the property is present without a value (`name` alone on the wire).
        public var value: String?

        public init(name: String, value: String?) {
            self.name = name
            self.value = value
        }
    }

    public var entries: [Entry]

    public init(_ entries: [Entry] = []) {
        self.entries = entries
    }

    /// The first value for `name`; `nil` if absent or value-less.
    public func value(for name: String) -> String? {
        entries.first { $0.name == name }?.value ?? nil
    }

    public func contains(_ name: String) -> Bool {
        entries.contains { $0.name == name }
    }

    public mutating func append(_ name: String, _ value: String?) {
        entries.append(Entry(name: name, value: value))
    }

    public var encoded: String {
        entries.map { entry in
            let name = IoTHubPercentEncoding.encode(entry.name)
            guard let value = entry.value else { return name }
            return name + "=" + IoTHubPercentEncoding.encode(value)
        }.joined(separator: "&")
    }

    public init(parsing text: some StringProtocol) throws(IoTHubError) {
        var entries: [Entry] = []
        for (name, value) in try Self.rawPairs(text) {
            let decodedName = try IoTHubPercentEncoding.decode(name)
            let decodedValue = try value.map { (raw: Substring) throws(IoTHubError) -> String in
                try IoTHubPercentEncoding.decode(raw)
            }
            entries.append(Entry(name: decodedName, value: decodedValue))
        }
        self.entries = entries
    }

    /// Segments split at `&` and their first `=`, not decoded. Names must not be empty.
    static func rawPairs(_ text: some StringProtocol) throws(IoTHubError) -> [(Substring, Substring?)] {
        var body = Substring(text)
        if body.first == "?" { body = body.dropFirst() }
        var pairs: [(Substring, Substring?)] = []
        for segment in body.split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring
            let value: Substring?
            if let equals = segment.firstIndex(of: "=") {
                name = segment[..<equals]
                value = segment[segment.index(after: equals)...]
            } else {
                name = segment
                value = nil
            }
            if name.isEmpty { throw .malformedPropertyBag(String(text), reason: "a segment has a value but no name") }
            pairs.append((name, value))
        }
        return pairs
    }
}
