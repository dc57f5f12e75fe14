/// Outstanding `$rid` requests (twin GET, reported patch) with their deadlines (A.9).
///
/// ## Contract
/// - Pure: time comes in as `now` (same monotonic base as the session's events).
/// - ``register(_:context:now:)`` refuses a `$rid` that is still waiting;
///   ``resolve(_:)`` removes and returns the entry for a response;
///   ``expired(now:)`` removes and returns entries whose deadline (`registeredAt + timeout`) is
///   at or before `now`, oldest deadline first.
/// - ``makeRequestID()`` hands out decimal counters that are not currently registered.
public struct IoTHubRequestTable<Context: Sendable>: Sendable {
    public struct Entry: Sendable {
        public var requestID: String
        public var context: Context
        public var registeredAt: Duration
        public var deadline: Duration
    }

    public let timeout: Duration
    private var entries: [String: Entry] = [:]
    private var counter: UInt64 = 0

    public init(timeout: Duration) {
        self.timeout = timeout
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The earliest deadline of a waiting request (schedule a check then).
    /// (A closure, not `\.deadline`: a key path into this generic type is instantiated at run
    /// time on every call, which cost 12 % of the publish benchmark's CPU.)
    public var nextDeadline: Duration? { entries.values.lazy.map { $0.deadline }.min() }

    public mutating func makeRequestID() -> String {
        while true {
            counter &+= 1
            let rid = String(counter)
            if entries[rid] == nil { return rid }
        }
    }

    public mutating func register(_ requestID: String, context: Context, now: Duration) throws(IoTHubError) {
        try IoTHubIdentifier.validateRequestID(requestID)
        guard entries[requestID] == nil else { throw .duplicateRequestID(requestID) }
        entries[requestID] = Entry(requestID: requestID, context: context, registeredAt: now, deadline: now + timeout)
    }

    /// The entry for a response's `$rid`, removed; `nil` for an unknown (or already expired) one.
    public mutating func resolve(_ requestID: String) -> Entry? {
        entries.removeValue(forKey: requestID)
    }

    public mutating func expired(now: Duration) -> [Entry] {
        let due = entries.values.filter { $0.deadline <= now }
            .sorted { ($0.deadline, $0.requestID) < ($1.deadline, $1.requestID) }
        for entry in due { entries[entry.requestID] = nil }
        return due
    }
}

extension IoTHubRequestTable where Context == Void {
    public mutating func register(_ requestID: String, now: Duration) throws(IoTHubError) {
        try register(requestID, context: (), now: now)
    }
}
