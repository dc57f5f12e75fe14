/// Packet identifiers 1…65535 (MQTT 3.1.1 §2.3.1), handed out in order, wrapping from 65535
/// back to 1 and skipping identifiers still in use.
///
/// An identifier stays in use from ``allocate()`` until ``release(_:)`` (PUBACK, SUBACK,
/// UNSUBACK received, or the request abandoned). Identifiers the server chooses for its own
/// PUBLISHes are a separate space and never pass through here.
public struct MQTTPacketIDAllocator: Sendable, Hashable {
    public private(set) var inUse: Set<UInt16> = []
    private var next: UInt16

    /// `start` lets tests begin near the wrap; 0 is not an identifier and counts as 1.
    public init(startingAt start: UInt16 = 1) {
        next = max(1, start)
    }

    /// The next free identifier, or `nil` when all 65,535 are in use.
    public mutating func allocate() -> UInt16? {
        guard inUse.count < Int(UInt16.max) else { return nil }
        while true {
            let candidate = next
            next = next == UInt16.max ? 1 : next + 1
            if inUse.insert(candidate).inserted { return candidate }
        }
    }

    public mutating func release(_ id: UInt16) {
        inUse.remove(id)
    }
}
