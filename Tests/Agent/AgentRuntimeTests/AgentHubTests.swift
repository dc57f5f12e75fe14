import AgentRuntime
import Boards
import Foundation
import HubClient
import IoTHub
import Logging
import Outbox
import Synchronization
import Testing
import TestSupport

/// The agent's delivery path end to end: sampler → outbox (SQLite) → HubClient (TLS) → a real
/// Mosquitto → a subscriber (issue 6).
@Suite(.serialized, .enabled(if: MosquittoBroker.available, "needs mosquitto (scripts/test.sh installs it)"))
struct AgentHubTests {
    func hubSettings(_ broker: MosquittoBroker, device: String) -> HubClient.Settings {
        let files = broker.pki.files.devices[device]!
        var settings = HubClient.Settings(host: "127.0.0.1", port: broker.port, deviceID: device,
                                          certificateFile: files.certificate, keyFile: files.key,
                                          trustAnchors: broker.pki.files.caChain)
        settings.backoffBase = .milliseconds(50)
        settings.backoffCap = .milliseconds(500)
        return settings
    }

    /// "topic<TAB>hex" → (topic, decoded body).
    func decode(_ line: String) -> (topic: String, body: String) {
        let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
        var bytes: [UInt8] = []
        var hex = Substring(parts.count > 1 ? parts[1] : "")
        while hex.count >= 2 {
            bytes.append(UInt8(hex.prefix(2), radix: 16) ?? 0)
            hex = hex.dropFirst(2)
        }
        return (parts.first ?? "", String(decoding: bytes, as: UTF8.self))
    }

    @Test func telemetryGoesThroughTheOutboxAndSequenceNumbersSurviveARestart() throws {
        let broker = try MosquittoBroker(devices: ["factory-line-01"])
        let subscriber = try Subscriber(broker: broker)
        let folder = try TemporaryDirectory(prefix: "fieldagent-state")
        let state = folder.path
        for _ in 0..<2 {
            let board = try openBoard("sim-factory-line")
            var config = testConfig(sendFrequency: .seconds(5), stateDirectory: state)
            config.core.flushTimeout = .seconds(15)
            let agent = Agent(board: board, options: .init(agentVersion: "test", config: config, count: 3),
                              hub: hubSettings(broker, device: "factory-line-01"), logger: Logger(label: "test"))
            #expect(try agent.run())
            let left = try Outbox.inspect(path: state + "/outbox.db").get()
            #expect(left.depth == 0, "acknowledged messages are deleted")
        }
        // Readings queued before the link came up go as a backlog batch (messageType=batch).
        func telemetry(_ lines: [String]) -> [(topic: String, body: String)] { lines.map(decode).filter { $0.topic.contains("/messages/events/") } }
        func readings(_ lines: [String]) -> Int { telemetry(lines).reduce(0) { $0 + $1.body.matches(of: /"seq":(\d+)/).count } }
        let telemetry = telemetry(subscriber.waitFor { _ in readings(subscriber.lines) >= 6 })
        // Each message's $.mid carries the sequence number of its body (a batch's: its first and last).
        let sequences = telemetry.flatMap { message -> [Int] in
            let seqs = message.body.matches(of: /"seq":(\d+)/).compactMap { Int($0.1) }
            let mid = seqs.count == 1 ? "\(seqs[0])" : "\(seqs.first ?? -1)-\(seqs.last ?? -1)"
            #expect(message.topic.hasPrefix("devices/factory-line-01/messages/events/%24.mid=factory-line-01-\(mid)&%24.ct=application%2Fjson&%24.ce=utf-8&%24.ctime=20"),
                    "\(message.topic)")
            #expect(seqs.count == 1 || message.topic.hasSuffix("&messageType=batch"), "\(message.topic)")
            return seqs
        }
        // Every number once, and the second run continues where the first stopped. Within a run the
        // order may differ: a reading made while the link was still coming up waits as backlog,
        // and a later live one goes first (the hub orders by $.ctime).
        #expect(sequences.count == 6)
        #expect(sequences.prefix(3).sorted() == [1, 2, 3], "\(sequences)")
        #expect(sequences.dropFirst(3).sorted() == [4, 5, 6], "\(sequences)")
    }

    /// The hub unreachable for a simulated 3 days at 1 message/s: 259,200 readings wait in the
    /// outbox with their capture times, then drain oldest first, under the configured rate.
    @Test func threeDaysOfBacklogDrainOldestFirstUnderTheRate() throws {
        let broker = try MosquittoBroker(devices: ["press-7"], logEverything: false)
        let subscriber = try Subscriber(broker: broker)
        let folder = try TemporaryDirectory(prefix: "fieldagent-state")
        let state = folder.path
        let outbox = try Outbox(directory: try StateDirectory(state), logger: Logger(label: "test"))
        let count = 3 * 24 * 3600
        let start = Date().addingTimeInterval(-Double(count))
        var batch: [OutboxDraft] = []
        for i in 0..<count {
            let captured = start.addingTimeInterval(Double(i))
            batch.append(OutboxDraft(kind: .aggregate, capturedAt: captured, properties: ["$.ct": "application/json"]) { seq in
                Array(#"{"seq":\#(seq),"t":\#(Int(captured.timeIntervalSince1970))}"#.utf8)
            })
            if batch.count == 2000 {
                _ = try outbox.enqueue(batch: batch)
                batch.removeAll()
            }
        }
        _ = try outbox.enqueue(batch: batch)
        #expect(outbox.depth == count)
        // Above what a debug build drains (so the test measures delivery, not the pacer, which the
        // next test pins down at a binding rate); a release build on this machine does reach it.
        let rate = 25_000.0
        // One hub message per reading (batching off): this measures the per-message drain path;
        // batches have their own tests (OutboxSourceTests, BacklogLocalHubTests).
        let source = try OutboxSource(outbox: outbox, deviceID: "press-7", drainRate: rate, batching: nil)
        let client = HubClient(settings: hubSettings(broker, device: "press-7"), logger: Logger(label: "test"), source: source)
        let began = Date()
        client.start()
        defer { client.stop() }
        // The drained count, every 100 ms: no second may carry more than the rate (plus one burst).
        var samples: [(Date, Int)] = []
        while Date().timeIntervalSince(began) < 900, outbox.depth > 0 {
            samples.append((Date(), source.counts.backlog))
            usleep(100_000)
        }
        let elapsed = Date().timeIntervalSince(began)
        #expect(outbox.depth == 0, "all delivered within 15 min")
        #expect(Double(count) / elapsed <= rate * 1.05, "average drain \(Double(count) / elapsed)/s against \(rate)/s")
        for (i, (time, drained)) in samples.enumerated() {
            guard let later = samples[(i + 1)...].first(where: { $0.0.timeIntervalSince(time) >= 1 }) else { break }
            let perSecond = Double(later.1 - drained) / later.0.timeIntervalSince(time)
            #expect(perSecond <= rate * 2 + 1, "\(Int(perSecond)) messages/s in one second")
        }
        let lines = subscriber.waitFor(count: count, timeout: 30)
        #expect(lines.count == count)
        var previous = 0
        var ordered = true
        for (i, line) in lines.enumerated() where i % 997 == 0 || i == lines.count - 1 {
            let (topic, body) = decode(line)
            guard let seq = Int(body.split(separator: ",")[0].dropFirst(7)) else { ordered = false; break }
            if seq <= previous { ordered = false }
            previous = seq
            // $.ctime is the capture time: 3 days ago for the first, about now for the last.
            if i == 0 { #expect(topic.contains("%24.ctime=\(Self.day(start))"), "\(topic)") }
        }
        #expect(ordered, "oldest first")
        #expect(previous == count)
    }

    /// A backlog drains at the configured rate while messages queued after the link came up
    /// (live readings) go at once.
    @Test func liveMessagesOvertakeABacklogThatIsPacedAtItsRate() throws {
        let broker = try MosquittoBroker(devices: ["press-8"], logEverything: false)
        let subscriber = try Subscriber(broker: broker)
        let folder = try TemporaryDirectory(prefix: "fieldagent-state")
        let state = folder.path
        let outbox = try Outbox(directory: try StateDirectory(state), logger: Logger(label: "test"))
        let backlog = 600
        _ = try outbox.enqueue(batch: (0..<backlog).map { i in
            OutboxDraft(kind: .aggregate, capturedAt: Date().addingTimeInterval(Double(i - backlog))) { seq in Array("backlog-\(seq)".utf8) }
        })
        let rate = 100.0
        let source = try OutboxSource(outbox: outbox, deviceID: "press-8", drainRate: rate, batching: nil)   // one message each
        let client = HubClient(settings: hubSettings(broker, device: "press-8"), logger: Logger(label: "test"), source: source)
        let began = Date()
        client.start()
        defer { client.stop() }
        while client.state != .connected, Date().timeIntervalSince(began) < 10 { usleep(10_000) }
        usleep(500_000)
        for i in 1...5 {
            try outbox.enqueue(kind: .alert, capturedAt: Date()) { _ in Array("live-\(i)".utf8) }
        }
        let liveSent = Date()
        var liveArrived: Date?
        while Date().timeIntervalSince(began) < 30, outbox.depth > 0 {
            if liveArrived == nil, subscriber.lines.filter({ $0.hasSuffix(Self.hex("live-5")) }).count == 1 { liveArrived = Date() }
            usleep(20_000)
        }
        let elapsed = Date().timeIntervalSince(began)
        #expect(outbox.depth == 0)
        let liveDelay = liveArrived.map { $0.timeIntervalSince(liveSent) } ?? 99
        #expect(liveDelay < 1.5, "live messages waited \(liveDelay) s behind the backlog")
        // 600 at 100/s with a bucket of 100: at least 5 s; and not much slower than the rate.
        #expect(elapsed >= Double(backlog) / rate - 1.5, "drained in \(elapsed) s")
        #expect(elapsed < Double(backlog) / rate + 10, "drained in \(elapsed) s")
        #expect(subscriber.waitFor(count: backlog + 5).count == backlog + 5)
    }

    static func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }

    static func day(_ date: Date) -> String {
        String(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)).prefix(13))
            .replacingOccurrences(of: ":", with: "%3A")
    }
}
