#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import IoTHub

/// How LocalHub keeps cloud-to-device messages: IoT Hub's limits and defaults.
public struct CloudToDeviceLimits: Sendable, Hashable {
    /// IoT Hub's cap on messages waiting per device, queued and locked (403004
    /// DeviceMaximumQueueDepthExceeded above it).
    public var depth = IoTHubLimits.maximumCloudToDeviceQueueDepth
    /// IoT Hub's default time to live.
    public var timeToLive: Duration = .seconds(3600)
    /// IoT Hub's lock timeout: a delivered message not acknowledged within it is available again.
    public var lockTimeout = IoTHubLimits.cloudToDeviceLock
    /// IoT Hub's default maximum delivery count: a message delivered this often and still not
    /// completed is dead-lettered.
    public var maximumDeliveries = 10

    public init() {}
}

/// One device's cloud-to-device messages as IoT Hub keeps them for an MQTT device: pure state,
/// the time passed in.
///
/// ## Contract
/// - A message is *queued* until it is delivered; a delivery *locks* it for
///   ``CloudToDeviceLimits/lockTimeout`` and counts one against ``CloudToDeviceLimits/maximumDeliveries``.
/// - ``complete(_:)`` (the device's PUBACK) removes a locked message for good.
/// - A lock ends without a completion when it times out or its connection drops
///   (``abandon(lockedBy:now:)``): an MQTT device cannot reject or abandon explicitly. The message is
///   queued again, or dead-lettered (removed and counted) once it was delivered
///   ``CloudToDeviceLimits/maximumDeliveries`` times.
/// - Every message expires ``CloudToDeviceLimits/timeToLive`` after it was sent, queued or locked.
/// - At most ``CloudToDeviceLimits/depth`` messages, queued and locked together; ``enqueue`` refuses more.
struct CloudToDeviceQueue: Sendable {
    struct Message: Sendable, Hashable {
        /// Unique in this hub run.
        var id: UInt64
        var properties: IoTHubPropertyBag
        var payload: [UInt8]
        var expires: Date
        var deliveries = 0
        /// Set while locked: until when, and the connection it was delivered on.
        var lockedUntil: Date?
        var lockedBy: UInt64?

        var isLocked: Bool { lockedUntil != nil }
    }

    /// What happened to a message besides its delivery, for the hub's log.
    enum Outcome: Sendable, Hashable {
        case expired(id: UInt64, deliveries: Int)
        case deadLettered(id: UInt64, deliveries: Int)
        /// The lock ran out, or its connection dropped, and the message waits for its next delivery.
        case abandoned(id: UInt64, deliveries: Int)
    }

    /// The queue is full: IoT Hub answers 403004.
    struct Full: Error, Sendable {}

    let limits: CloudToDeviceLimits
    /// Queued and locked, oldest first.
    private(set) var messages: [Message] = []
    /// Totals since the hub started.
    private(set) var completed = 0
    private(set) var deadLettered = 0
    private(set) var expired = 0

    init(limits: CloudToDeviceLimits = CloudToDeviceLimits()) {
        self.limits = limits
    }

    var queuedCount: Int { messages.count(where: { !$0.isLocked }) }
    var lockedCount: Int { messages.count(where: \.isLocked) }
    /// When the earliest lock runs out (nil: nothing locked).
    var nextLockExpiry: Date? { messages.compactMap(\.lockedUntil).min() }

    /// Adds a message sent at `now`; refuses it when ``CloudToDeviceLimits/depth`` messages already wait.
    mutating func enqueue(id: UInt64, properties: IoTHubPropertyBag, payload: [UInt8], now: Date)
        throws(Full) -> [Outcome] {
        let outcomes = expire(now: now)
        guard messages.count < limits.depth else { throw Full() }
        messages.append(Message(id: id, properties: properties, payload: payload,
                                expires: now.addingTimeInterval(Self.seconds(limits.timeToLive))))
        return outcomes
    }

    /// Locks every message that is available at `now` (queued, or whose lock ran out) for a
    /// delivery on `connection`, oldest first, and returns them; the outcomes say which expired,
    /// were abandoned by a lock that ran out, or were dead-lettered.
    mutating func deliver(on connection: UInt64, now: Date) -> (deliveries: [Message], outcomes: [Outcome]) {
        var outcomes = expire(now: now)
        outcomes += releaseExpiredLocks(now: now)
        var deliveries: [Message] = []
        for index in messages.indices where !messages[index].isLocked {
            messages[index].deliveries += 1
            messages[index].lockedUntil = now.addingTimeInterval(Self.seconds(limits.lockTimeout))
            messages[index].lockedBy = connection
            deliveries.append(messages[index])
        }
        return (deliveries, outcomes)
    }

    /// The device acknowledged message `id`: it is done. Nil when it is not locked (expired,
    /// dead-lettered or completed already).
    @discardableResult
    mutating func complete(_ id: UInt64) -> Message? {
        guard let index = messages.firstIndex(where: { $0.id == id && $0.isLocked }) else { return nil }
        completed += 1
        return messages.remove(at: index)
    }

    /// The connection the messages were locked for is gone: each is queued again or dead-lettered.
    mutating func abandon(lockedBy connection: UInt64, now: Date) -> [Outcome] {
        var outcomes = expire(now: now)
        outcomes += release { $0.lockedBy == connection }
        return outcomes
    }

    /// A delivery that never reached the device (the connection was not subscribed or had too many
    /// messages in flight): unlocked without counting it as a delivery.
    mutating func undo(_ id: UInt64) {
        guard let index = messages.firstIndex(where: { $0.id == id && $0.isLocked }) else { return }
        messages[index].deliveries -= 1
        messages[index].lockedUntil = nil
        messages[index].lockedBy = nil
    }

    /// Removes the messages whose time to live is over.
    mutating func expire(now: Date) -> [Outcome] {
        let gone = messages.filter { $0.expires <= now }
        guard !gone.isEmpty else { return [] }
        messages.removeAll { $0.expires <= now }
        expired += gone.count
        return gone.map { .expired(id: $0.id, deliveries: $0.deliveries) }
    }

    mutating func releaseExpiredLocks(now: Date) -> [Outcome] {
        release { ($0.lockedUntil ?? .distantFuture) <= now }
    }

    private mutating func release(where matches: (Message) -> Bool) -> [Outcome] {
        var outcomes: [Outcome] = []
        var kept: [Message] = []
        for var message in messages {
            guard message.isLocked, matches(message) else {
                kept.append(message)
                continue
            }
            if message.deliveries >= limits.maximumDeliveries {
                deadLettered += 1
                outcomes.append(.deadLettered(id: message.id, deliveries: message.deliveries))
                continue
            }
            message.lockedUntil = nil
            message.lockedBy = nil
            kept.append(message)
            outcomes.append(.abandoned(id: message.id, deliveries: message.deliveries))
        }
        messages = kept
        return outcomes
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
