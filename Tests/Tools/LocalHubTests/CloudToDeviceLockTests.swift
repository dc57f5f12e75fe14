import Foundation
import IoTHub
import Testing
@testable import LocalHub

/// IoT Hub's C2D lifecycle for MQTT devices, on the pure per-device queue with the time passed in:
/// a delivery locks, a PUBACK completes, a lock that runs out or a dropped connection abandons
/// (delivered again), the tenth delivery without a PUBACK dead-letters, the time to live expires
/// queued and locked messages alike, and the 50-message cap counts both.
@Suite struct CloudToDeviceLockTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let connection: UInt64 = 7

    func queue(_ payloads: [String], limits: CloudToDeviceLimits = CloudToDeviceLimits()) throws -> CloudToDeviceQueue {
        var queue = CloudToDeviceQueue(limits: limits)
        for (index, payload) in payloads.enumerated() {
            _ = try queue.enqueue(id: UInt64(index + 1), properties: IoTHubPropertyBag(), payload: Array(payload.utf8), now: start)
        }
        return queue
    }

    func payloads(_ messages: [CloudToDeviceQueue.Message]) -> [String] {
        messages.map { String(decoding: $0.payload, as: UTF8.self) }
    }

    @Test func aDeliveryLocksAndThePubAckCompletes() throws {
        var queue = try queue(["a", "b"])
        let (delivered, outcomes) = queue.deliver(on: connection, now: start)
        #expect(payloads(delivered) == ["a", "b"])
        #expect(outcomes.isEmpty)
        #expect(queue.lockedCount == 2 && queue.queuedCount == 0)
        // Locked: a second pump while the lock holds hands nothing out.
        #expect(queue.deliver(on: connection, now: start.addingTimeInterval(59)).deliveries.isEmpty)
        #expect(queue.complete(1)?.deliveries == 1)
        #expect(queue.complete(1) == nil, "completed once only")
        #expect(queue.lockedCount == 1 && queue.completed == 1)
        #expect(queue.messages.map(\.id) == [2])
    }

    @Test func aDroppedConnectionAbandonsItsLocksAndTheNextConnectionGetsThemAgain() throws {
        var queue = try queue(["a"])
        _ = queue.deliver(on: connection, now: start)
        // Another connection's end leaves this one's lock alone.
        #expect(queue.abandon(lockedBy: 99, now: start).isEmpty)
        #expect(queue.lockedCount == 1)
        #expect(queue.abandon(lockedBy: connection, now: start.addingTimeInterval(5)) == [.abandoned(id: 1, deliveries: 1)])
        #expect(queue.queuedCount == 1 && queue.lockedCount == 0)
        let again = queue.deliver(on: 8, now: start.addingTimeInterval(6)).deliveries
        #expect(payloads(again) == ["a"])
        #expect(again.first?.deliveries == 2)
        #expect(again.first?.lockedBy == 8)
    }

    @Test func aLockThatRunsOutMakesTheMessageAvailableAgain() throws {
        var queue = try queue(["a"])
        let lock = TimeInterval(60)  // IoT Hub's one minute, written independently of the constant
        _ = queue.deliver(on: connection, now: start)
        #expect(queue.nextLockExpiry == start.addingTimeInterval(lock))
        #expect(queue.deliver(on: connection, now: start.addingTimeInterval(lock - 0.001)).deliveries.isEmpty)
        let (again, outcomes) = queue.deliver(on: connection, now: start.addingTimeInterval(lock))
        #expect(outcomes == [.abandoned(id: 1, deliveries: 1)])
        #expect(payloads(again) == ["a"])
        #expect(again.first?.deliveries == 2)
        #expect(queue.nextLockExpiry == start.addingTimeInterval(2 * lock))
        // The PUBACK of the redelivery completes it.
        #expect(queue.complete(1) != nil)
        #expect(queue.messages.isEmpty)
    }

    @Test func tenDeliveriesWithoutAPubAckDeadLetterTheMessage() throws {
        var queue = try queue(["poison", "fine"])
        var time = start
        for delivery in 1...10 {
            let delivered = queue.deliver(on: connection, now: time).deliveries
            #expect(delivered.first { $0.id == 1 }?.deliveries == delivery)
            if delivery == 1 { #expect(queue.complete(2) != nil) }
            time += 1
            if delivery < 10 {
                #expect(queue.abandon(lockedBy: connection, now: time) == [.abandoned(id: 1, deliveries: delivery)])
            }
        }
        // The tenth delivery is the last: its lock running out dead-letters the message.
        let (after, outcomes) = queue.deliver(on: connection, now: time.addingTimeInterval(60))
        #expect(after.isEmpty)
        #expect(outcomes == [.deadLettered(id: 1, deliveries: 10)])
        #expect(queue.deadLettered == 1 && queue.messages.isEmpty)
        #expect(queue.completed == 1)
    }

    @Test func messagesExpireAfterAnHourQueuedOrLocked() throws {
        var queue = try queue(["locked", "queued"])
        _ = queue.deliver(on: connection, now: start)
        queue.undo(2)  // its connection could not take it: queued again, no delivery counted
        #expect(queue.messages.map(\.deliveries) == [1, 0])
        #expect(queue.expire(now: start.addingTimeInterval(3599)).isEmpty)
        let outcomes = queue.expire(now: start.addingTimeInterval(3600))
        #expect(outcomes == [.expired(id: 1, deliveries: 1), .expired(id: 2, deliveries: 0)])
        #expect(queue.messages.isEmpty && queue.expired == 2)
        #expect(queue.complete(1) == nil, "a PUBACK after expiry completes nothing")
    }

    @Test func theFiftyMessageCapCountsQueuedAndLocked() throws {
        var queue = try queue((1...30).map { "early \($0)" })
        _ = queue.deliver(on: connection, now: start)  // 30 locked
        for index in 31...50 {
            _ = try queue.enqueue(id: UInt64(index), properties: IoTHubPropertyBag(), payload: [], now: start)
        }
        #expect(queue.lockedCount == 30 && queue.queuedCount == 20)
        #expect(throws: CloudToDeviceQueue.Full.self) {
            try queue.enqueue(id: 51, properties: IoTHubPropertyBag(), payload: [], now: start)
        }
        // A completion frees a place.
        #expect(queue.complete(1) != nil)
        _ = try queue.enqueue(id: 51, properties: IoTHubPropertyBag(), payload: [], now: start)
        #expect(queue.messages.count == 50)
    }
}
