@testable import AgentRuntime
import Foundation
import HubClient
import Logging
import Outbox
import Synchronization
import Testing
import TestSupport

/// What the outbox hands the hub link: a backlog in batches, live messages and alerts alone,
/// rows deleted only with the acknowledgement of the hub message that carried them.
@Suite struct OutboxSourceTests {
    let device = "press-9"

    func outbox(_ folder: TemporaryDirectory) throws -> Outbox {
        try Outbox(directory: try StateDirectory(folder.path), logger: Logger(label: "test"))
    }

    /// `count` stored telemetry messages of about `bytes` bytes, captured a second apart.
    func fill(_ outbox: Outbox, count: Int, bytes: Int = 200, kind: (Int) -> OutboxKind = { _ in .aggregate }) throws {
        let start = Date().addingTimeInterval(-Double(count))
        let padding = String(repeating: "x", count: max(0, bytes - 40))
        _ = try outbox.enqueue(batch: (0..<count).map { i in
            OutboxDraft(kind: kind(i), capturedAt: start.addingTimeInterval(Double(i)), properties: ["$.ct": "application/json"]) { seq in
                Array(#"{"deviceId":"press-9","pad":"\#(padding)","seq":\#(seq)}"#.utf8)
            }
        })
    }

    /// The stored sequence numbers a hub message carries (a batch's elements, or the message's own).
    func sequences(_ message: HubOutgoing) throws -> [Int] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any])
        if let elements = object["messages"] as? [[String: Any]] {
            #expect(object["messageType"] as? String == "batch")
            #expect(object["deviceId"] as? String == device)
            return elements.compactMap { $0["seq"] as? Int }
        }
        return [try #require(object["seq"] as? Int)]
    }

    @Test func aBacklogGoesInBatchesWithinTheByteBudgetOldestFirst() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-source")
        let outbox = try outbox(folder)
        try fill(outbox, count: 5_000, bytes: 1_000)
        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 1_000)
        defer { source.close() }
        let messages = source.take(limit: 40)
        let carried = try messages.flatMap(sequences)
        #expect(carried == Array(1...5_000), "every stored message once, in order")
        // 200 KB of body at most: about 200 readings of 1 KB per batch, so 25 hub messages.
        #expect(messages.count >= 25 && messages.count <= 27, "\(messages.count) hub messages")
        #expect(messages.allSatisfy { $0.payload.count <= 200 * 1024 })
        #expect(messages.dropLast().allSatisfy { $0.payload.count > 190 * 1024 }, "batches are filled")
        let first = try #require(messages.first)
        #expect(first.topic.contains("messageType=batch"), "\(first.topic)")
        #expect(first.topic.contains("%24.mid=press-9-1-"), "\(first.topic)")
        #expect(source.counts.backlog == 5_000)
        #expect(source.batchesSent == messages.count)
    }

    @Test func aBatchIsDeletedOnlyWhenItsAcknowledgementComes() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-source")
        let outbox = try outbox(folder)
        try fill(outbox, count: 3_000)
        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 1_000)
        let messages = source.take(limit: 3)
        #expect(messages.count == 3)
        let second = try sequences(messages[1])
        source.acknowledged([messages[1].token])
        source.close()   // waits for the deleter
        #expect(outbox.depth == 3_000 - second.count, "exactly the acknowledged batch's rows are gone")
        let left = Set(outbox.peek(limit: 10_000).map { Int($0.seq) })
        #expect(left.isDisjoint(with: second))
        #expect(left.isSuperset(of: try sequences(messages[0]) + sequences(messages[2])))
    }

    @Test func alertsNeverJoinABatchAndLiveMessagesGoFirstAndAlone() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-source")
        let outbox = try outbox(folder)
        try fill(outbox, count: 300, kind: { $0 == 150 ? .alert : .aggregate })
        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 1_000)
        defer { source.close() }
        // Queued after the link came up: live.
        try outbox.enqueue(kind: .alert, capturedAt: Date()) { seq in Array(#"{"alert":"spike","seq":\#(seq)}"#.utf8) }
        let messages = source.take(limit: 40)
        let carried = try messages.map(sequences)
        #expect(carried.count == 4, "live alert, batch, backlog alert, batch: \(carried.map(\.count))")
        #expect(carried.first == [301], "the live message first, alone")
        #expect(carried.dropFirst().first == Array(1...150))
        #expect(carried.dropFirst(2).first == [151], "the stored alert alone, in its place")
        #expect(carried.last == Array(152...300))
    }

    @Test func thePacerCountsHubMessagesNotReadings() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-source")
        let outbox = try outbox(folder)
        try fill(outbox, count: 4_000)
        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 2)
        defer { source.close() }
        let messages = source.take(limit: 40)
        #expect(messages.count == 2, "a bucket of 2 hub messages")
        #expect(source.counts.backlog == 2_000, "two batches of 1,000 readings (the message cap)")
        #expect(source.take(limit: 40).isEmpty)
        #expect((source.pacingDelay ?? .zero) > .zero)
    }

    @Test func withoutBatchingEachStoredMessageGoesAlone() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-source")
        let outbox = try outbox(folder)
        try fill(outbox, count: 100)
        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 1_000, batching: nil)
        defer { source.close() }
        let messages = source.take(limit: 40)
        #expect(try messages.map(sequences) == (1...40).map { [$0] })
    }

    /// The batch the agent builds has the shape of the contract's example (firmware-interface/).
    @Test func theBatchBodyHasTheContractsShape() throws {
        let example = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repositoryPath("firmware-interface/examples/batch.json")))) as? [String: Any])
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repositoryPath("firmware-interface/batch.v1.schema.json")))) as? [String: Any])
        let elements = try #require(example["messages"] as? [Any])
        let bodies = try elements.map { Array(try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys])) }
        let built = BacklogBatching.body(deviceID: "factory-line-01", bodies: bodies)
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(built)) as? [String: Any])
        #expect(Set(decoded.keys) == Set(example.keys))
        #expect(Set(decoded.keys) == Set(try #require(schema["required"] as? [String])))
        #expect(decoded["messageType"] as? String == "batch")
        #expect((decoded["messages"] as? [Any])?.count == elements.count)
        #expect(BacklogBatching.size(deviceID: "factory-line-01", bodyBytes: bodies.reduce(0) { $0 + $1.count }, count: bodies.count) == built.count)
    }

    /// A connection that ends with messages in flight is IoT Hub's throttling signal over MQTT:
    /// the drain rate halves; an idle link going down says nothing about the rate.
    @Test func aDisconnectWithMessagesInFlightSlowsTheDrain() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-source")
        let outbox = try outbox(folder)
        try fill(outbox, count: 10)
        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 80, batching: nil)
        defer { source.close() }
        source.linkDown()
        #expect(source.drainRate.current == 80, "nothing was in flight")
        let taken = source.take(limit: 40)
        #expect(taken.count == 10)
        source.linkDown()
        #expect(source.drainRate == (current: 40, ceiling: 80))
        source.linkUp()
        source.acknowledged(taken.map(\.token))
        #expect(source.drainRate.current == 40, "fast acknowledgements raise it again only after a second")
    }

    /// The start-up jitter: a backlog from before this start waits the drawn delay (seedable),
    /// live messages do not; the link is told how long, so it need not poll.
    @Test func aBacklogFromBeforeTheStartWaitsTheJitterAndLiveMessagesDoNot() throws {
        var random = SeededGenerator(seed: 19)
        let delays = (0..<200).map { _ in OutboxSource.startupDelay(maximum: .seconds(30), using: &random) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= .seconds(30) })
        #expect(delays.contains { $0 < .seconds(5) } && delays.contains { $0 > .seconds(25) }, "spread over the range")
        var again = SeededGenerator(seed: 19)
        #expect(OutboxSource.startupDelay(maximum: .seconds(30), using: &again) == delays[0], "the same seed, the same delay")

        let folder = try TemporaryDirectory(prefix: "fieldagent-source")
        let outbox = try outbox(folder)
        try fill(outbox, count: 500)
        let start = ContinuousClock.now
        let now = Mutex(start)
        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 50, startupHold: .seconds(12),
                                      clock: { now.withLock { $0 } })
        defer { source.close() }
        #expect(source.take(limit: 40).isEmpty, "the backlog waits")
        #expect(source.pacingDelay == .seconds(12))
        try outbox.enqueue(kind: .aggregate, capturedAt: Date()) { seq in Array(#"{"seq":\#(seq)}"#.utf8) }
        now.withLock { $0 = start + .seconds(5) }
        #expect(try source.take(limit: 40).map(sequences) == [[501]], "a live message goes at once")
        #expect(source.take(limit: 40).isEmpty)
        #expect(source.pacingDelay == .seconds(7))
        #expect(source.holdingBacklog)
        now.withLock { $0 = start + .seconds(12) }
        #expect(try source.take(limit: 40).flatMap(sequences) == Array(1...500), "then the backlog, in one batch")
        #expect(!source.holdingBacklog)
    }

    @Test func aBacklogOfThisRunOnlyIsNotHeld() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-source")
        let outbox = try outbox(folder)
        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 50, startupHold: .seconds(30))
        defer { source.close() }
        try fill(outbox, count: 10)   // queued before the link came up
        source.linkUp()
        #expect(try source.take(limit: 40).flatMap(sequences) == Array(1...10))
    }

    /// The quota IoT Hub meters: acknowledged hub messages and their 4 KB units (body and
    /// properties), per UTC day.
    @Test func acknowledgedMessagesAreMeteredInFourKilobyteUnitsPerUTCDay() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-source")
        let outbox = try outbox(folder)
        try fill(outbox, count: 1_000)
        let wall = Mutex(Date(timeIntervalSince1970: 1_796_256_000 + 86_399))   // 2026-12-03 23:59:59 UTC
        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 1_000, wallClock: { wall.withLock { $0 } })
        defer { source.close() }
        let messages = source.take(limit: 40)
        #expect(messages.count == 1, "1,000 readings of 200 bytes: one batch")
        let batch = try #require(messages.first)
        #expect(source.quotaToday.messages == 0, "nothing counts before its acknowledgement")
        source.acknowledged([batch.token])
        let today = source.quotaToday
        #expect(today.dayText == "2026-12-03")
        #expect(today.messages == 1)
        // IoT Hub: one unit per started 4 KB of the message, properties included.
        let bytes = batch.payload.count + OutboxSource.propertyBytes(batch.topic)
        #expect(bytes > 200_000 && bytes < 204_800)
        #expect(today.units == (bytes + 4095) / 4096)
        #expect(today.units == 50 || today.units == 49)
        wall.withLock { $0 += 1 }   // midnight UTC
        #expect(source.quotaToday.messages == 0)
        #expect(source.quotaToday.dayText == "2026-12-04")
        let status = AgentStatus.Quota(today, dailyQuota: 400_000)
        #expect(status.fractionUsed == Double(today.units) / 400_000)
        #expect(status.text == "1 message(s), \(today.units) unit(s) of 4 KB (0.0 % of 400000) on 2026-12-03 (UTC)")
    }

    @Test func theMeterCountsAtLeastOneUnitAndRollsOverOnlyForward() {
        #expect(HubQuotaMeter.units(0) == 1)
        #expect(HubQuotaMeter.units(4096) == 1)
        #expect(HubQuotaMeter.units(4097) == 2)
        #expect(HubQuotaMeter.units(256 * 1024) == 64)
        let day = Date(timeIntervalSince1970: 1_796_256_000)
        var meter = HubQuotaMeter(at: day)
        meter.record(bytes: 100, at: day)
        meter.record(bytes: 9_000, at: day.addingTimeInterval(-10))   // a clock stepped back: same day
        #expect(meter.messages == 2 && meter.units == 4)
        #expect(meter.reading(at: day.addingTimeInterval(86_400)).units == 0)
    }
}
