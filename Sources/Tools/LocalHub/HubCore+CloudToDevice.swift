import FoundationEssentials
import Foundation
import Identity
import IoTHub
import JSON
import Logging
import NIOCore
import Synchronization
import SystemCalls

/// Cloud-to-device messages: the per-device queues (`CloudToDeviceQueue`), delivery to a
/// subscribed connection, completion on PUBACK, redelivery, dead-lettering and their counts.
extension HubCore {
    /// Queues a C2D message as IoT Hub does (at most ``CloudToDeviceLimits/depth`` waiting per
    /// device, queued and locked, each for ``CloudToDeviceLimits/timeToLive``) and delivers it
    /// at once when the device is connected and subscribed. Returns whether it was delivered now
    /// (false: it waits for the device).
    func sendCloudToDevice(_ deviceID: String, payload: [UInt8], properties: IoTHubPropertyBag) throws(HubError) -> Bool {
        guard state.withLock({ $0.devices[deviceID] }) != nil else { throw .unknownDevice(deviceID) }
        let id = nextID()
        let at = now()
        let limits = cloudToDeviceLimits
        let enqueued = state.withLock { state -> [CloudToDeviceQueue.Outcome]? in
            var queue = state.cloudToDevice[deviceID] ?? CloudToDeviceQueue(limits: limits)
            defer { state.cloudToDevice[deviceID] = queue }
            return try? queue.enqueue(id: id, properties: properties, payload: payload, now: at)
        }
        guard let enqueued else {
            throw .invalidArgument("\(deviceID) already has \(limits.depth) cloud-to-device messages waiting, queued or locked (IoT Hub: 403004 DeviceMaximumQueueDepthExceeded)")
        }
        log(enqueued, deviceID: deviceID, why: "")
        if pumpCloudToDevice(deviceID).contains(id) { return true }
        let counts = cloudToDeviceCounts(deviceID)
        logger.notice("C2D message \(id) for \(deviceID) queued: the device is offline or not subscribed (\(counts.queued) queued, \(counts.locked) locked)", metadata: ["device": "\(deviceID)"])
        return false
    }

    /// The device's connection `connection` subscribed to its C2D topic: what waits goes to it.
    func cloudToDeviceReady(_ deviceID: String, connection: UInt64) {
        let current = state.withLock { state in
            guard state.connections[deviceID]?.id == connection else { return false }
            state.cloudToDeviceReady[deviceID] = connection
            return true
        }
        if current { pumpCloudToDevice(deviceID) }
    }

    /// Locks and hands every available message (queued, or whose lock ran out) to the device's
    /// subscribed connection, and sets the timer for the earliest lock. Returns the ids delivered.
    @discardableResult
    func pumpCloudToDevice(_ deviceID: String) -> [UInt64] {
        let at = now()
        let (deliveries, outcomes) = state.withLock { state -> ([CloudToDeviceQueue.Message], [CloudToDeviceQueue.Outcome]) in
            guard let connection = state.connections[deviceID], state.cloudToDeviceReady[deviceID] == connection.id,
                  var queue = state.cloudToDevice[deviceID] else { return ([], []) }
            let (deliveries, outcomes) = queue.deliver(on: connection.id, now: at)
            state.cloudToDevice[deviceID] = queue
            // Handed over under the lock (`deliver` only enqueues on the event loop), so two
            // pumps cannot reorder the device's messages.
            for message in deliveries {
                connection.deliver(.cloudToDevice(messageID: message.id, properties: message.properties, payload: message.payload))
            }
            state.lockTimers[deviceID]?.cancel()
            state.lockTimers[deviceID] = queue.nextLockExpiry.map { expiry in
                let delay = Duration.milliseconds(Int64(max(0, expiry.timeIntervalSince(at)) * 1000) + 1)
                return connection.eventLoop.scheduleTask(in: .nanoseconds(delay.nanoseconds)) { [self] in
                    pumpCloudToDevice(deviceID)
                }
            }
            return (deliveries, outcomes)
        }
        log(outcomes, deviceID: deviceID, why: "its lock ran out")
        let most = cloudToDeviceLimits.maximumDeliveries
        for message in deliveries {
            logger.info("C2D message \(message.id) delivered to \(deviceID) (delivery \(message.deliveries) of at most \(most))",
                        metadata: ["device": "\(deviceID)"])
        }
        return deliveries.map(\.id)
    }

    /// The device acknowledged C2D message `messageID` (PUBACK): complete.
    func completeCloudToDevice(_ deviceID: String, messageID: UInt64) {
        let done = state.withLock { $0.cloudToDevice[deviceID]?.complete(messageID) }
        if let done {
            logger.info("C2D message \(messageID) completed by \(deviceID) after \(done.deliveries) delivery(ies)",
                        metadata: ["device": "\(deviceID)"])
        } else {
            logger.notice("PUBACK from \(deviceID) for C2D message \(messageID), which is no longer locked (expired, dead-lettered, or its lock ran out): ignored", metadata: ["device": "\(deviceID)"])
        }
    }

    /// The connection could not send C2D message `messageID`: it waits again, no delivery counted.
    func cloudToDeviceNotDelivered(_ deviceID: String, messageID: UInt64, reason: String) {
        state.withLock { $0.cloudToDevice[deviceID]?.undo(messageID) }
        logger.notice("C2D message \(messageID) not delivered to \(deviceID): \(reason); it stays queued",
                      metadata: ["device": "\(deviceID)"])
    }

    /// Messages waiting for `deviceID` (every device when nil): queued, locked, and, since the
    /// hub started, completed, dead-lettered and expired. Expired messages are dropped first.
    func cloudToDeviceCounts(_ deviceID: String? = nil) -> CloudToDeviceCounts {
        let at = now()
        let (counts, expired) = state.withLock { state in
            var counts = CloudToDeviceCounts()
            var expired: [(String, [CloudToDeviceQueue.Outcome])] = []
            for key in state.cloudToDevice.keys where deviceID == nil || key == deviceID {
                guard var queue = state.cloudToDevice[key] else { continue }
                expired.append((key, queue.expire(now: at)))
                state.cloudToDevice[key] = queue
                counts.add(queue)
            }
            return (counts, expired)
        }
        for (device, outcomes) in expired { log(outcomes, deviceID: device, why: "") }
        return counts
    }

    /// The messages waiting for `deviceID`, oldest first.
    func cloudToDeviceMessages(_ deviceID: String) -> [CloudToDeviceQueue.Message] {
        _ = cloudToDeviceCounts(deviceID)
        return state.withLock { $0.cloudToDevice[deviceID]?.messages ?? [] }
    }

    func log(_ outcomes: [CloudToDeviceQueue.Outcome], deviceID: String, why: String) {
        let most = cloudToDeviceLimits.maximumDeliveries
        for outcome in outcomes {
            switch outcome {
            case let .expired(id, deliveries):
                logger.notice("C2D message \(id) for \(deviceID) expired after \(deliveries) delivery(ies) (time to live \(cloudToDeviceLimits.timeToLive)): dropped", metadata: ["device": "\(deviceID)"])
            case let .deadLettered(id, deliveries):
                logger.warning("C2D message \(id) for \(deviceID) dead-lettered: \(deliveries) deliveries (IoT Hub's maximum \(most)) and no PUBACK; dropped", metadata: ["device": "\(deviceID)"])
            case let .abandoned(id, deliveries):
                logger.info("C2D message \(id) for \(deviceID) abandoned (\(why)) after delivery \(deliveries): it will be delivered again", metadata: ["device": "\(deviceID)"])
            }
        }
    }
}

/// Cloud-to-device messages at the hub (the admin `stats` and `c2d` answers).
public struct CloudToDeviceCounts: Sendable, Hashable {
    /// Waiting for a delivery.
    public var queued = 0
    /// Delivered, waiting for the device's PUBACK.
    public var locked = 0
    /// Since the hub started.
    public var completed = 0
    public var deadLettered = 0
    public var expired = 0

    public init() {}

    mutating func add(_ queue: CloudToDeviceQueue) {
        queued += queue.queuedCount
        locked += queue.lockedCount
        completed += queue.completed
        deadLettered += queue.deadLettered
        expired += queue.expired
    }

    var json: JSONValue {
        .object(["queued": .integer(Int64(queued)), "locked": .integer(Int64(locked)), "completed": .integer(Int64(completed)),
                 "deadLettered": .integer(Int64(deadLettered)), "expired": .integer(Int64(expired))])
    }
}
