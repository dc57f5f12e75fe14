import TestSupport
import AgentRuntime
import Boards
import Foundation
import HubClient
import Identity
import JSON
import LocalHub
import Logging
import Synchronization
import Testing

/// Issue 5 end to end: the agent (simulated board in real time) against LocalHub over real
/// mutual TLS on 127.0.0.1: desired properties applied live and acknowledged, bad values
/// refused, settings kept over a restart, offline changes applied on reconnect, direct methods.
@Suite(.serialized) struct AgentLocalHubTests {
    let device = "factory-line-01"

    final class Harness: @unchecked Sendable {
        let folder: TemporaryDirectory
        var directory: String { folder.path }
        let pki: DevPKI.Bundle
        let hub: LocalHubServer
        let port: UInt16

        init() async throws {
            folder = try TemporaryDirectory(prefix: "fieldagent-e2e")
            pki = try DevPKI.generate(outputDirectory: folder.file("pki"), devices: ["factory-line-01"], now: Date())
            var configuration = LocalHubServer.Configuration(stateDirectory: folder.file("hub"), port: 0,
                                                             logger: Logger(label: "localhub"))
            configuration.serverCertificateFile = pki.files.serverCertificate
            configuration.serverKeyFile = pki.files.serverKey
            configuration.adminSocket = false
            hub = try LocalHubServer(configuration)
            port = try await hub.start()
            _ = try hub.registerCertificateAuthority(pem: Array(try Data(contentsOf: URL(fileURLWithPath: pki.files.rootCertificate))))
            try hub.registerDevice("factory-line-01", authentication: .certificateAuthority)
        }

        func hubSettings() -> HubClient.Settings {
            let files = pki.files.devices["factory-line-01"]!
            var settings = HubClient.Settings(host: "127.0.0.1", port: port, deviceID: "factory-line-01",
                                              certificateFile: files.certificate, keyFile: files.key,
                                              trustAnchors: pki.files.caChain, modelID: LinkConfig().modelID)
            settings.expectedHostName = "localhost"
            settings.backoffBase = .milliseconds(50)
            settings.backoffCap = .milliseconds(300)
            return settings
        }

        /// An agent on sim-factory-line in real time (time scale 1), running on its own thread.
        func startAgent(sendFrequency: Duration = .seconds(6), timeScale: Double = 1, logRing: LogRing? = nil,
                        configure: (inout AgentConfig) -> Void = { _ in }) throws -> Agent {
            let board = try Board.open(try BoardFile.load(path: "\(repositoryRoot)/boards/sim-factory-line.yaml"), timeScale: timeScale)
            var config = testConfig(sendFrequency: sendFrequency, stateDirectory: directory + "/agent")
            configure(&config)
            config.core.flushTimeout = .seconds(2)
            let logger = logRing.map { ring in Logger(label: "agent") { RingLogHandler(label: $0, ring: ring, level: .info) } }
            let agent = Agent(board: board, options: .init(agentVersion: "test", config: config, logRing: logRing),
                              hub: hubSettings(), logger: logger ?? Logger(label: "agent"))
            Thread.detachNewThread { _ = try? agent.run() }
            return agent
        }

        func stop(_ agent: Agent) {
            agent.stop()
            let end = Date().addingTimeInterval(10)
            while Date() < end, agent.hubClient?.state != .stopped || agent.outbox != nil { usleep(20_000) }
        }

        func reported(_ key: String) -> JSONValue? {
            (try? hub.twin("factory-line-01"))?.reported[key]
        }

        func arrivals() -> [Date] {
            ((try? hub.telemetry("factory-line-01")) ?? [])
                .filter { $0.properties["alert"] == nil }
                .compactMap { try? Date($0.arrivedAt, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) }
        }

        func cleanUp() async {
            await hub.stop()
        }
    }

    func waitFor(_ timeout: Double = 15, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }

    func ack(_ value: JSONValue?) -> (value: JSONValue?, ac: Int?, av: Int?) {
        guard case .object(let fields)? = value else { return (nil, nil, nil) }
        return (fields["value"], fields["ac"]?.intValue, fields["av"]?.intValue)
    }

    @Test func sendFrequencyIsAppliedLiveAcknowledgedAndBadValuesAreRefused() async throws {
        let harness = try await Harness()
        let agent = try harness.startAgent()
        #expect(waitFor { harness.hub.isConnected("factory-line-01") && harness.reported("agentVersion") != nil })
        #expect(harness.reported("board") == .string("sim-factory-line"))
        #expect(harness.reported("sendFrequency").map { ack($0).ac } == 203, "the default is reported with ac 203")

        let version = try harness.hub.setDesired(device, patch: .object(["sendFrequency": .string("2s")]))
        #expect(waitFor { ack(harness.reported("sendFrequency")).av == version })
        let applied = ack(harness.reported("sendFrequency"))
        #expect(applied.ac == 200)
        #expect(applied.value == .string("2s"))
        #expect(agent.settings.sendFrequency == .seconds(2))
        // Telemetry now arrives every 2 s (the first one within one old period of the change).
        let changed = Date()
        #expect(waitFor(20) { harness.arrivals().filter { $0 > changed }.count >= 5 })
        let recent = harness.arrivals().filter { $0 > changed }
        #expect((recent.first?.timeIntervalSince(changed) ?? 99) < 6.5)
        let gaps = zip(recent.dropFirst(), recent).map { $0.timeIntervalSince($1) }.dropFirst()
        #expect(gaps.allSatisfy { abs($0 - 2) < 0.6 }, "gaps \(gaps)")

        // Each bad value: ac 400 with a reason, and 2s stays in force.
        // The longest string a hub lets through (4 KB per value, A.9) reaches the agent and is
        // refused there, with a short reason.
        let longest = JSONValue.string(String(repeating: "9", count: 4000) + "s")
        for bad: JSONValue in [.string("banana"), .string("-5s"), .integer(0), .string("100000h"), .number(12.5), .null,
                               .object(["seconds": .integer(5)]), longest] {
            let v = try harness.hub.setDesired(device, patch: .object(["sendFrequency": bad]))
            #expect(waitFor { ack(harness.reported("sendFrequency")).av == v }, "no ack for \(bad.description.prefix(40))")
            let refused = ack(harness.reported("sendFrequency"))
            #expect(refused.ac == 400, "\(bad.description.prefix(40))")
            #expect(refused.value == .string("2s"), "\(bad.description.prefix(40))")
            if case .string(let reason)? = harness.reported("sendFrequency")?["ad"] {
                #expect(!reason.isEmpty && reason.utf8.count < 200, "reason: \(reason.prefix(200))")
            } else {
                Issue.record("no reason for \(bad.description.prefix(40))")
            }
            #expect(agent.settings.sendFrequency == .seconds(2))
        }
        // A 300 KB string never reaches the device: the hub refuses it (as IoT Hub does) with the
        // reason, and the device's value and acknowledged version stay as they were.
        let lastAcked = ack(harness.reported("sendFrequency")).av
        do {
            _ = try harness.hub.setDesired(device, patch: .object(["sendFrequency": .string(String(repeating: "9", count: 300 * 1024) + "s")]))
            Issue.record("LocalHub accepted a 300 KB desired value")
        } catch {
            #expect("\(error)".contains("bytes long"), "\(error)")
        }
        usleep(500_000)
        #expect(ack(harness.reported("sendFrequency")).av == lastAcked)
        #expect(agent.settings.sendFrequency == .seconds(2))
        harness.stop(agent)
        await harness.cleanUp()
    }

    @Test func settingsSurviveARestartAndOfflineChangesApplyOnReconnect() async throws {
        let harness = try await Harness()
        var agent = try harness.startAgent()
        #expect(waitFor { harness.hub.isConnected("factory-line-01") })
        let first = try harness.hub.setDesired(device, patch: .object(["sendFrequency": .string("3s")]))
        #expect(waitFor { ack(harness.reported("sendFrequency")).av == first })
        harness.stop(agent)
        #expect(waitFor { !harness.hub.isConnected("factory-line-01") })

        // Changed while the agent was offline.
        let offline = try harness.hub.setDesired(device, patch: .object(["sendFrequency": .string("4s"), "route": .string("predictor")]))
        agent = try harness.startAgent()
        // In force from the state directory before the hub is reached …
        #expect(agent.settings.sendFrequency == .seconds(3))
        // … then the twin GET at connect applies what changed meanwhile.
        #expect(waitFor { ack(harness.reported("sendFrequency")).av == offline })
        #expect(agent.settings.sendFrequency == .seconds(4))
        #expect(agent.settings.route == .predictor)
        #expect(ack(harness.reported("route")).ac == 200)
        harness.stop(agent)
        await harness.cleanUp()
    }

    /// Issue 15: the edge-analytics recipe's own twin update, `telemetryConfig.sendFrequency`,
    /// changes the period, is acknowledged at its own path, and survives a restart.
    @Test func theRecipesTelemetryConfigPathChangesThePeriodAndIsAcknowledged() async throws {
        let harness = try await Harness()
        var agent = try harness.startAgent()
        #expect(waitFor { harness.hub.isConnected("factory-line-01") && harness.reported("telemetryConfig") != nil })
        #expect(ack(harness.reported("telemetryConfig")).ac == 203)

        let version = try harness.hub.setDesired(device, patch: .object(["telemetryConfig": .object(["sendFrequency": .string("2s")])]))
        #expect(waitFor { ack(harness.reported("telemetryConfig")).av == version })
        let applied = ack(harness.reported("telemetryConfig"))
        #expect(applied.ac == 200)
        #expect(applied.value == .object(["sendFrequency": .string("2s")]))
        #expect(agent.settings.sendFrequency == .seconds(2))
        let changed = Date()
        #expect(waitFor(20) { harness.arrivals().filter { $0 > changed }.count >= 4 })
        let gaps = zip(harness.arrivals().filter { $0 > changed }.dropFirst(), harness.arrivals().filter { $0 > changed }).map { $0.timeIntervalSince($1) }.dropFirst()
        #expect(gaps.allSatisfy { abs($0 - 2) < 0.6 }, "gaps \(gaps)")

        let bad = try harness.hub.setDesired(device, patch: .object(["telemetryConfig": .object(["sendFrequency": .string("0s")])]))
        #expect(waitFor { ack(harness.reported("telemetryConfig")).av == bad })
        #expect(ack(harness.reported("telemetryConfig")).ac == 400)
        #expect(agent.settings.sendFrequency == .seconds(2))

        let unknown = try harness.hub.setDesired(device, patch: .object(["colour": .string("red")]))
        #expect(waitFor { ack(harness.reported("colour")).av == unknown })
        #expect(ack(harness.reported("colour")).ac == 404)

        harness.stop(agent)
        agent = try harness.startAgent(sendFrequency: .seconds(6))
        #expect(agent.settings.sendFrequency == .seconds(2), "kept in the state directory")
        harness.stop(agent)
        await harness.cleanUp()
    }

    /// Issue 15: tumbling aggregates on wall-clock boundaries and heartbeats arrive beside the raw
    /// messages; with upstream alerts-only (set on the twin) raw messages stop and the aggregates
    /// are held until `sendAggregates` asks for them. A minute of board time per second.
    @Test func aggregatesAndHeartbeatsArriveBesideRawMessagesAndAlertsOnlyHoldsThem() async throws {
        let harness = try await Harness()
        let agent = try harness.startAgent(sendFrequency: .seconds(30), timeScale: 60) { config in
            config.telemetry.heartbeatInterval = .seconds(300)
            config.telemetry.aggregateWindow = .seconds(300)
        }
        func bodies() -> [[String: Any]] {
            ((try? harness.hub.telemetry(device)) ?? []).compactMap { try? JSONSerialization.jsonObject(with: Data($0.payloadBytes)) as? [String: Any] }
        }
        func kind(_ body: [String: Any]) -> String { body["alert"] != nil ? "alert" : (body["messageType"] as? String ?? "raw") }
        #expect(waitFor(30) { bodies().filter { kind($0) == "aggregate" }.count >= 2 && bodies().contains { kind($0) == "heartbeat" } })
        let all = bodies()
        #expect(all.filter { kind($0) == "raw" }.count >= 10, "raw messages go on at the send period")
        let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        for aggregate in all.filter({ kind($0) == "aggregate" }) {
            let start = try Date(try #require(aggregate["windowStart"] as? String), strategy: style)
            let end = try Date(try #require(aggregate["windowEnd"] as? String), strategy: style)
            #expect(start.timeIntervalSince1970.truncatingRemainder(dividingBy: 300) == 0, "on a 5-minute boundary: \(start)")
            #expect(end.timeIntervalSince(start) == 300)
            let temperature = (aggregate["readings"] as? [String: Any]).flatMap { $0["ambient"] as? [String: Any] }.flatMap { $0["temperature"] as? [String: Any] }
            #expect(temperature?["count"] as? Int ?? 0 > 0)
        }

        let version = try harness.hub.setDesired(device, patch: .object(["upstream": .string("alerts-only")]))
        #expect(waitFor { ack(harness.reported("upstream")).av == version })
        #expect(ack(harness.reported("upstream")).value == .string("alerts-only"))
        let before = bodies().count
        // Two heartbeats later (5 board minutes apart) a window boundary has passed too.
        #expect(waitFor(30) { bodies().dropFirst(before).filter { kind($0) == "heartbeat" }.count >= 2 })
        let later = bodies().dropFirst(before).map(kind)
        #expect(later.allSatisfy { $0 == "alert" || $0 == "heartbeat" }, "alerts-only sent \(later)")
        let asked = await harness.hub.invokeMethod(device, name: "sendAggregates", timeout: .seconds(10))
        #expect(asked.status == 200)
        let sent = (try? JSONSerialization.jsonObject(with: Data(asked.payload)) as? [String: Any])?["sent"] as? Int ?? 0
        #expect(sent >= 1, "\(String(decoding: asked.payload, as: UTF8.self))")
        #expect(waitFor { bodies().dropFirst(before).filter { kind($0) == "aggregate" }.count == sent })
        harness.stop(agent)
        await harness.cleanUp()
    }

    /// Issue 15: cloud-to-device commands do something: `identify` blinks the status LED,
    /// `sendNow` sends the period in progress at once; anything else is only logged.
    @Test func cloudToDeviceIdentifyBlinksAndSendNowSendsAtOnce() async throws {
        let harness = try await Harness()
        let agent = try harness.startAgent(sendFrequency: .seconds(60))
        #expect(waitFor { harness.hub.isConnected("factory-line-01") && harness.reported("agentVersion") != nil })
        let before = harness.arrivals().count
        let asked = Date()
        #expect(try harness.hub.sendCloudToDevice(device, payload: Array(#"{"command":"sendNow"}"#.utf8)))
        // Well before the 60 s period ends: the next sample (every 2 s) or sooner.
        #expect(waitFor(10) { harness.arrivals().count > before })
        #expect((harness.arrivals().last?.timeIntervalSince(asked) ?? 99) < 5)

        let led = try #require(agent.board.simulation?.gpioChip)
        let changes = led.history(17).count
        #expect(try harness.hub.sendCloudToDevice(device, payload: Array(#"{"command":"identify","seconds":1}"#.utf8)))
        #expect(waitFor(5) { led.history(17).count >= changes + 2 }, "the status LED blinks")
        #expect(try harness.hub.sendCloudToDevice(device, payload: Array(#"{"command":"selfDestruct"}"#.utf8)))
        #expect(agent.settings.sendFrequency == .seconds(60))
        harness.stop(agent)
        #expect(waitFor { !harness.hub.isConnected("factory-line-01") })

        // Offline: LocalHub queues it, and the agent gets it when it subscribes again.
        #expect(try harness.hub.sendCloudToDevice(device, payload: Array(#"{"command":"sendNow"}"#.utf8)) == false)
        let offline = harness.arrivals().count
        let restarted = try harness.startAgent(sendFrequency: .seconds(60))
        let back = Date()
        #expect(waitFor(10) { harness.arrivals().count > offline }, "the queued sendNow reached the agent")
        #expect((harness.arrivals().last?.timeIntervalSince(back) ?? 99) < 8, "well before the 60 s period")
        harness.stop(restarted)
        await harness.cleanUp()
    }

    /// Issue 15: an `identify` sent while the agent is offline waits at the hub, reaches the agent
    /// when it connects, blinks the status LED, and is completed by the agent's PUBACK: nothing
    /// stays locked at the hub (so it is not delivered again).
    @Test func anIdentifySentWhileOfflineIsActedOnAfterConnectingAndCompleted() async throws {
        let harness = try await Harness()
        #expect(try harness.hub.sendCloudToDevice(device, payload: Array(#"{"command":"identify","seconds":1}"#.utf8)) == false)
        #expect(harness.hub.cloudToDeviceCounts(device).queued == 1)
        let agent = try harness.startAgent(sendFrequency: .seconds(60))
        let led = try #require(agent.board.simulation?.gpioChip)
        #expect(waitFor(10) { led.history(17).count >= 2 }, "the status LED blinks")
        #expect(waitFor(10) { harness.hub.cloudToDeviceCounts(device).completed == 1 })
        let counts = harness.hub.cloudToDeviceCounts(device)
        #expect(counts.locked == 0 && counts.queued == 0 && counts.deadLettered == 0, "\(counts)")
        harness.stop(agent)
        await harness.cleanUp()
    }

    /// Issue 15: the model id the agent announces reaches the hub, and it is the DTDL model's @id.
    @Test func theModelIDReachesTheHub() async throws {
        let harness = try await Harness()
        let agent = try harness.startAgent()
        #expect(waitFor { harness.hub.isConnected("factory-line-01") })
        let model = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repositoryPath("firmware-interface/fieldagent.dtdl.json")))) as? [String: Any]
        let id = try #require(model?["@id"] as? String)
        #expect(harness.hub.modelID(device) == id)
        harness.stop(agent)
        await harness.cleanUp()
    }

    @Test func directMethodsAreAnswered() async throws {
        let harness = try await Harness()
        let agent = try harness.startAgent()
        #expect(waitFor { harness.hub.isConnected("factory-line-01") && harness.reported("agentVersion") != nil })
        let health = await harness.hub.invokeMethod(device, name: "getHealth", timeout: .seconds(10))
        #expect(health.status == 200)
        #expect(String(decoding: health.payload, as: UTF8.self).contains("\"agentVersion\":\"test\""))
        let diagnostics = await harness.hub.invokeMethod(device, name: "runDiagnostics", timeout: .seconds(20))
        #expect(diagnostics.status == 200)
        #expect(String(decoding: diagnostics.payload, as: UTF8.self).contains("\"checks\""))
        let blink = await harness.hub.invokeMethod(device, name: "blinkLed", payload: .object(["seconds": .integer(1)]), timeout: .seconds(10))
        #expect(blink.status == 200)
        let bad = await harness.hub.invokeMethod(device, name: "blinkLed", payload: .object(["seconds": .string("x")]), timeout: .seconds(10))
        #expect(bad.status == 400)
        let unknown = await harness.hub.invokeMethod(device, name: "selfDestruct", timeout: .seconds(10))
        #expect(unknown.status == 404)
        #expect(String(decoding: unknown.payload, as: UTF8.self).contains("runDiagnostics, blinkLed, getHealth"))
        harness.stop(agent)
        await harness.cleanUp()
    }
}
