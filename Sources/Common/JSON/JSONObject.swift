/// The members of a JSON object, in document order, with unique names.
///
/// Reads like a `[String: JSONValue]` (``subscript(_:)``, ``keys``, ``values``, iteration as
/// `(key, value)` pairs) but keeps the order members were parsed or added in: a model file's
/// and a predictor.v1 frame's members are written back as they came. Setting a new key appends
/// it; setting an existing key keeps its place; setting `nil` removes it. Equality and hashing
/// ignore the order.
public struct JSONObject: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    public typealias Element = (key: String, value: JSONValue)

    public private(set) var keys: [String] = []
    private var members: [String: JSONValue] = [:]

    public init() {}

    /// Members in the literal's order; a repeated key keeps its first place and its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(uniqueKeysWithValues: elements)
    }

    /// Members in the sequence's order; a repeated key keeps its first place and its last value.
    public init(uniqueKeysWithValues elements: some Sequence<(String, JSONValue)>) {
        for (key, value) in elements { self[key] = value }
    }

    /// The dictionary's members, sorted by key.
    public init(_ dictionary: [String: JSONValue]) {
        keys = dictionary.keys.sorted()
        members = dictionary
    }

    /// The value for `key`; assigning `nil` removes the member.
    public subscript(key: String) -> JSONValue? {
        get { members[key] }
        set {
            if let newValue {
                if members.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if members.removeValue(forKey: key) != nil, let index = keys.firstIndex(of: key) {
                keys.remove(at: index)
            }
        }
    }

    /// The values, in member order.
    public var values: [JSONValue] { keys.map { members[$0] ?? .null } }

    /// The members as a dictionary (order dropped).
    public var dictionary: [String: JSONValue] { members }

    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        let old = members[key]
        self[key] = nil
        return old
    }

    public func mapValues(_ transform: (JSONValue) throws -> JSONValue) rethrows -> JSONObject {
        var result = self
        for key in keys { result.members[key] = try transform(members[key] ?? .null) }
        return result
    }

    // MARK: RandomAccessCollection

    public var startIndex: Int { keys.startIndex }
    public var endIndex: Int { keys.endIndex }

    public subscript(position: Int) -> Element {
        let key = keys[position]
        return (key, members[key] ?? .null)
    }

    // MARK: Hashable, ignoring order

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool { lhs.members == rhs.members }

    public func hash(into hasher: inout Hasher) { hasher.combine(members) }
}
