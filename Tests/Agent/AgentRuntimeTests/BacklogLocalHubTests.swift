import AgentRuntime
import Boards
import Foundation
import HubClient
import Identity
import LocalHub
import Logging
import Outbox
import Synchronization
import Testing
import TestSupport

/// Issue 19 item 7: a 3-day backlog drains against a hub that throttles as IoT Hub S1 does.
@Suite(.serialized) struct BacklogLocalHubTests {
    let device = "factory-line-01"

    /// What the hub received, counted as it arrives (the telemetry log is not re-read).
    final class Arrivals: Sendable {
        struct State {
            var sequences = Set<Int>()
            var readings = 0
            var messages = 0
            var batches = 0
            var largest = 0
            /// Distinct backlog sequence numbers (1 … target) seen.
            var backlog = 0
        }
        let state = Mutex(State())
        /// Resumed once: when the backlog is complete, or at the time-out.
        let waiter = Mutex<(CheckedContinuation<Bool, Never>?, Bool?)>((nil, nil))
        let target: Int

        /// True when every backlog reading arrived within `timeout`; suspends, never blocks a thread.
        func waitForBacklog(timeout: Duration) async -> Bool {
            let timer = Task {
                try? await Task.sleep(for: timeout)
                self.finish(false)
            }
            defer { timer.cancel() }
            return await withCheckedContinuation { continuation in
                let result = waiter.withLock { w -> Bool? in
                    if let done = w.1 { return done }
                    w.0 = continuation
                    return nil
                }
                if let result { continuation.resume(returning: result) }
            }
        }

        func finish(_ result: Bool) {
            let continuation = waiter.withLock { w -> CheckedContinuation<Bool, Never>? in
                guard w.1 == nil else { return nil }
                w.1 = result
                defer { w.0 = nil }
                return w.0
            }
            continuation?.resume(returning: result)
        }

        init(target: Int) { self.target = target }

        func record(_ record: TelemetryRecord) {
            var seqs: [Int] = []
            let object = try? JSONSerialization.jsonObject(with: Data(record.payload.utf8)) as? [String: Any]
            let isBatch = record.properties["messageType"] == .string("batch")
            if isBatch {
                seqs = ((object?["messages"] as? [[String: Any]]) ?? []).compactMap { $0["seq"] as? Int }
            } else if let seq = object?["seq"] as? Int {
                seqs = [seq]
            }
            let done = state.withLock { s in
                s.messages += 1
                s.readings += seqs.count
                if isBatch { s.batches += 1 }
                s.largest = max(s.largest, record.payload.utf8.count)
                let wasComplete = s.backlog == target
                for seq in seqs where s.sequences.insert(seq).inserted && seq <= target { s.backlog += 1 }
                return !wasComplete && s.backlog == target
            }
            if done { finish(true) }
        }
    }

    /// LocalHub emulating one S1 unit (100 sends/s hub-wide: beyond it, a throttling disconnect)
    /// with the device registered through the dev PKI's root, and the device's link settings.
    func startS1Hub(in folder: TemporaryDirectory, configure: (inout LocalHubServer.Configuration) -> Void = { _ in })
        async throws -> (LocalHubServer, HubClient.Settings) {
        let pki = try DevPKI.generate(outputDirectory: folder.file("pki"), devices: [device], now: Date())
        var configuration = LocalHubServer.Configuration(stateDirectory: folder.file("hub"), port: 0, logger: Logger(label: "localhub"))
        configuration.serverCertificateFile = pki.files.serverCertificate
        configuration.serverKeyFile = pki.files.serverKey
        configuration.adminSocket = false
        configuration.tier = .s1
        configure(&configuration)
        let hub = try LocalHubServer(configuration)
        let port = try await hub.start()
        _ = try hub.registerCertificateAuthority(pem: Array(try Data(contentsOf: URL(fileURLWithPath: pki.files.rootCertificate))))
        try hub.registerDevice(device, authentication: .certificateAuthority)
        let files = pki.files.devices[device]!
        var settings = HubClient.Settings(host: "127.0.0.1", port: port, deviceID: device, certificateFile: files.certificate,
                                          keyFile: files.key, trustAnchors: pki.files.caChain, modelID: LinkConfig().modelID)
        settings.expectedHostName = "localhost"
        return (hub, settings)
    }

    @Test func aThreeDayBacklogDrainsUnderTheS1ThrottleInBatchesWithoutADisconnect() async throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-backlog")
        let (hub, settings) = try await startS1Hub(in: folder) { $0.telemetryFileMaximumBytes = 1 << 30 }

        // Three days at 1 Hz while the hub was unreachable: 259,200 readings in the outbox.
        let readings = 3 * 24 * 3600
        let state = folder.file("agent")
        do {
            let outbox = try Outbox(directory: try StateDirectory(state), logger: Logger(label: "test"))
            let start = Date().addingTimeInterval(-Double(readings))
            var drafts: [OutboxDraft] = []
            for i in 0..<readings {
                let captured = start.addingTimeInterval(Double(i))
                drafts.append(OutboxDraft(kind: .aggregate, capturedAt: captured, properties: ["$.ct": "application/json", "$.ce": "utf-8"]) { seq in
                    Array(#"{"deviceId":"factory-line-01","humidity":44.98,"periodSeconds":1,"pressure":101323.9,"seq":\#(seq),"temperature":22.51,"timestamp":"\#(captured.formatted(.iso8601))"}"#.utf8)
                })
                if drafts.count == 4_000 {
                    _ = try outbox.enqueue(batch: drafts)
                    drafts.removeAll(keepingCapacity: true)
                }
            }
            _ = try outbox.enqueue(batch: drafts)
            #expect(outbox.depth == readings)
            outbox.close()
        }

        let arrivals = Arrivals(target: readings)
        let subscription = hub.subscribeTelemetry(deviceID: device) { arrivals.record($0) }
        defer { hub.cancelTelemetrySubscription(subscription) }

        let board = try Board.open(try BoardFile.load(path: "\(repositoryRoot)/boards/sim-factory-line.yaml"), timeScale: 1)
        var config = testConfig(sendFrequency: .seconds(5), stateDirectory: state)
        config.core.flushTimeout = .seconds(5)
        config.link.dailyQuota = 400_000
        config.outbox.drainJitter = .seconds(2)   // the backlog is from "before this start": it waits up to 2 s
        let agent = Agent(board: board, options: .init(agentVersion: "test", config: config), hub: settings, logger: Logger(label: "agent"))
        let began = Date()
        let runner = Thread { _ = try? agent.run() }
        runner.start()

        // Woken by the hub's telemetry subscription once every backlog reading has arrived: about
        // 20 s alone, 130 s beside the other heavy suites on 2 cores (slow acknowledgements there
        // slow the adaptive drain down too).
        let drained = await arrivals.waitForBacklog(timeout: .seconds(420))
        let elapsed = Date().timeIntervalSince(began)
        let connects = agent.hubClient?.statistics.connects ?? 0
        agent.stop()
        // What status shows of the quota: what the hub metered (it counted every message the
        // agent got a PUBACK for, plus at most the ones in flight at stop).
        let agentQuota = try #require(agent.status().quota)

        let seen = arrivals.state.withLock { $0 }
        #expect(drained, "every backlog reading at the hub within 420 s (\(seen.backlog) of \(readings))")
        #expect(connects == 1, "one connection: no throttling disconnect")
        #expect(hub.duplicateCount(device) == 0, "each reading once")
        #expect(seen.readings == seen.sequences.count, "no reading twice")
        #expect(seen.batches > 0)
        #expect(seen.messages < readings / 100, "\(seen.messages) hub messages for \(readings) readings")
        #expect(seen.largest <= 200 * 1024, "a batch of \(seen.largest) bytes")
        let quota = try #require(hub.quotaUsed)
        #expect(quota.used < readings / 3, "\(quota.used) metered 4 KB messages of the S1 day's \(quota.limit)")
        #expect(agentQuota.dailyQuota == 400_000 && agentQuota.fractionUsed == Double(agentQuota.units) / 400_000)
        #expect(agentQuota.units <= quota.used && agentQuota.units >= quota.used - 40, "agent \(agentQuota.units) units, hub \(quota.used)")
        #expect(agentQuota.messages >= seen.batches)
        print("backlog: \(readings) readings in \(seen.messages) hub messages (\(seen.batches) batches) in \(Int(elapsed)) s; S1 quota used \(quota.used) of \(quota.limit)")
    }

    /// The drain rate follows the hub's throttle live: one message per reading (no batching) with
    /// a ceiling of 400/s against LocalHub's S1 throttle of 100 sends/s. The hub throttles (it
    /// closes the connection, as IoT Hub does over MQTT); the link comes back, the drain slows down
    /// and settles under the hub's limit, and the backlog arrives whole.
    @Test func theDrainRateFallsToTheHubsThrottleAndTheBacklogStillArrivesWhole() async throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-throttle")
        let (hub, settings) = try await startS1Hub(in: folder)

        let readings = 3_000
        let outbox = try Outbox(directory: try StateDirectory(folder.file("agent")), logger: Logger(label: "test"))
        let start = Date().addingTimeInterval(-Double(readings))
        _ = try outbox.enqueue(batch: (0..<readings).map { i in
            OutboxDraft(kind: .aggregate, capturedAt: start.addingTimeInterval(Double(i)), properties: ["$.ct": "application/json"]) { seq in
                Array(#"{"deviceId":"factory-line-01","temperature":22.51,"seq":\#(seq)}"#.utf8)
            }
        })
        let arrivals = Arrivals(target: readings)
        let subscription = hub.subscribeTelemetry(deviceID: device) { arrivals.record($0) }
        defer { hub.cancelTelemetrySubscription(subscription) }

        let source = try OutboxSource(outbox: outbox, deviceID: device, drainRate: 400, batching: nil)
        let client = HubClient(settings: settings, logger: Logger(label: "link"), source: source)
        let began = Date()
        client.start()
        let drained = await arrivals.waitForBacklog(timeout: .seconds(300))
        let elapsed = Date().timeIntervalSince(began)
        let connects = client.statistics.connects
        let rate = source.drainRate
        client.stop()
        source.close()
        outbox.close()
        await hub.stop()

        let seen = arrivals.state.withLock { $0 }
        #expect(drained, "every reading at the hub within 300 s (\(seen.backlog) of \(readings))")
        #expect(seen.sequences.count == readings)
        #expect(connects >= 2, "the hub throttled the 400/s drain at least once (\(connects) connections)")
        // 400 → 200 → 100 → 50/s takes three or four throttles; then the climb stays under the
        // last rate throttled. (Before each throttle emptied the pacer's bucket, counted what was
        // resent after a reconnect and held the climb, this was 105 connections in 29 s.)
        #expect(connects <= 8, "the drain slowed down instead of being throttled again and again (\(connects) connections)")
        #expect(rate.current <= 200, "the drain rate fell from its ceiling \(rate.ceiling)/s to \(rate.current)/s")
        print("throttled drain: \(readings) readings in \(Int(elapsed)) s, \(connects) connections, rate \(rate.current) of \(rate.ceiling)/s, \(hub.duplicateCount(device)) duplicates")
    }
}
