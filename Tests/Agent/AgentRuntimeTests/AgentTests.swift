import AgentRuntime
import Boards
import Foundation
import HALSimulation
import Logging
import Synchronization
import TestSupport
import Testing

/// A test agent's settings: a send frequency, and where state is kept. Raw telemetry only: a
/// 5-minute aggregate closes whenever a run crosses a wall-clock boundary, so a test that counts
/// messages would depend on the time of day; the tests of aggregates turn them on.
func testConfig(sendFrequency: Duration, stateDirectory: String? = nil) -> AgentConfig {
    var config = AgentConfig()
    config.telemetry.sendFrequency = sendFrequency
    config.telemetry.aggregateWindow = .zero
    // No start-up jitter: a backlog from an earlier run in a test drains at once (BacklogLocalHubTests
    // and OutboxSourceTests test the jitter).
    config.outbox.drainJitter = .zero
    config.core.stateDirectory = stateDirectory
    return config
}

/// The agent without a hub: live settings, persistence and direct methods on a simulated board.
@Suite struct AgentTests {
    func agent(_ board: Board, stateDirectory: String? = nil, count: Int? = 4, frequency: Duration = .seconds(30)) -> Agent {
        Agent(board: board, options: .init(agentVersion: "test", config: testConfig(sendFrequency: frequency, stateDirectory: stateDirectory),
                                           count: count),
              hub: nil, logger: Logger(label: "test"))
    }

    @Test func aSendFrequencyChangeTakesEffectWithinOnePeriod() throws {
        let board = try openBoard("sim-factory-line")
        let stamps = Mutex<[Duration]>([])
        let start = board.clock.now
        let box = Mutex<Agent?>(nil)
        let agent = Agent(board: board, options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(30)), count: 8),
                          hub: nil, logger: Logger(label: "test")) { _ in
            let count = stamps.withLock { s in s.append(board.clock.now - start); return s.count }
            // The desired patch arrives right after the second message, early in a 30 s period.
            if count == 2 {
                box.withLock { $0 }?.applyDesiredPatchForTesting(version: 2, body: Array(#"{"sendFrequency":"2s"}"#.utf8))
            }
        }
        box.withLock { $0 = agent }
        try agent.run()
        let times = stamps.withLock { $0 }
        #expect(times.count == 8)
        #expect(agent.settings.sendFrequency == .seconds(2))
        // After the change, messages are 2 s apart (the last few periods, board time).
        let gaps = zip(times.dropFirst(), times).map { ($0 - $1).seconds }
        #expect(gaps.first.map { abs($0 - 30) < 2 } == true, "gaps \(gaps)")
        // The first message after the change comes within one sample of it, then every 2 s.
        #expect(gaps[1] <= 5.1, "gaps \(gaps)")
        #expect(gaps.dropFirst(2).allSatisfy { abs($0 - 2) < 0.2 }, "gaps \(gaps)")
    }

    @Test func appliedSettingsSurviveARestart() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-agent")
        let directory = folder.path
        let first = agent(try openBoard("sim-factory-line"), stateDirectory: directory)
        first.applyDesiredPatchForTesting(version: 5, body: Array(#"{"sendFrequency":"5s","route":"predictor"}"#.utf8))
        let second = agent(try openBoard("sim-factory-line"), stateDirectory: directory)
        #expect(second.settings.sendFrequency == .seconds(5))
        #expect(second.settings.route == .predictor)
        #expect(second.desiredVersion == 5)
    }

    @Test func aDisabledChannelLeavesTelemetry() throws {
        let board = try openBoard("sim-factory-line")
        let sent = Mutex<[TelemetryMessage]>([])
        let agent = Agent(board: board, options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(30)), count: 2),
                          hub: nil, logger: Logger(label: "test")) { message in sent.withLock { $0.append(message) } }
        agent.applyDesiredPatchForTesting(version: 1, body: Array(#"{"channels":{"humidity":false}}"#.utf8))
        try agent.run()
        let messages = sent.withLock { $0 }
        #expect(messages.count == 2)
        #expect(messages.allSatisfy { $0.humidity == nil && $0.readings["duct"]?["humidity"] == nil && $0.temperature != nil })
    }

    @Test func runDiagnosticsAnswersTheDoctorReport() throws {
        let agent = agent(try openBoard("sim-factory-line"))
        let (status, body) = agent.invoke("runDiagnostics", payload: [])
        #expect(status == 200)
        let report = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        #expect(report?["deviceID"] as? String == "factory-line-01")
        #expect((report?["checks"] as? [Any])?.isEmpty == false)
    }

    /// While the agent samples, a doctor run is done between two samples and sampling goes on.
    @Test func runDiagnosticsWhileSamplingAnswersAndSamplingGoesOn() throws {
        let board = try openBoard("sim-factory-line")
        let box = Mutex<Agent?>(nil)
        let statuses = Mutex<[Int]>([])
        let messages = Mutex(0)
        let agent = Agent(board: board, options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(2)), count: nil),
                          hub: nil, logger: Logger(label: "test")) { _ in
            let count = messages.withLock { $0 += 1; return $0 }
            guard count == 1, let agent = box.withLock({ $0 }) else { return }
            // From another thread, as the hub's calls come.
            DispatchQueue.global().async {
                let (status, _) = agent.invoke("runDiagnostics", payload: [])
                statuses.withLock { $0.append(status) }
                agent.stop()
            }
        }
        box.withLock { $0 = agent }
        try agent.run()
        #expect(statuses.withLock { $0 } == [200])
        #expect(messages.withLock { $0 } >= 1)
    }

    @Test func blinkLedTogglesTheStatusLine() throws {
        let board = try openBoard("sim-factory-line")
        let agent = agent(board)
        let (status, body) = agent.invoke("blinkLed", payload: Array(#"{"seconds":1}"#.utf8))
        #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        Thread.sleep(forTimeInterval: 1.4)
        let changes = board.simulation?.gpioChip?.history(17) ?? []
        #expect(changes.count >= 3, "the LED line changed \(changes.count) times")
        #expect(board.simulation?.gpioChip?.level(17) == false, "the LED is left off")
    }

    @Test func directMethodsAreATableEachFeatureContributesTo() throws {
        let agent = agent(try openBoard("sim-factory-line"))
        #expect(agent.methodNames == ["runDiagnostics", "blinkLed", "getHealth", "getLogs", "getSupportBundle", "sendAggregates"])
    }

    /// Stopping the agent ends a blink at once and leaves the LED off (no sleeping thread
    /// finishes its 300 s).
    @Test func stoppingTheAgentEndsABlink() throws {
        let board = try openBoard("sim-factory-line")
        let agent = agent(board, count: 1)
        let (status, _) = agent.invoke("blinkLed", payload: Array(#"{"seconds":300}"#.utf8))
        #expect(status == 200)
        try agent.run()
        let led = try #require(board.simulation?.gpioChip)
        #expect(led.level(17) == false, "the LED is left off")
        let changes = led.history(17).count
        Thread.sleep(forTimeInterval: 0.6)
        #expect(led.history(17).count == changes, "the LED stopped changing")
    }

    @Test(arguments: [
        ("blinkLed", #"{"seconds":"soon"}"#, 400),
        ("blinkLed", #"{"seconds":0}"#, 400),
        ("blinkLed", "not json", 400),
        ("blinkLed", "1", 200),
        ("blinkLed", "400", 400),
        ("blinkLed", #""5""#, 400),
        ("reboot", "{}", 404),
        ("getHealth", "", 200),
    ])
    func methodStatuses(name: String, payload: String, expected: Int) throws {
        let agent = agent(try openBoard("sim-factory-line"))
        let (status, body) = agent.invoke(name, payload: Array(payload.utf8))
        #expect(status == expected, "\(String(decoding: body, as: UTF8.self))")
        let json = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        if expected == 404 { #expect((json?["error"] as? String)?.contains("runDiagnostics, blinkLed, getHealth") == true) }
        if expected == 400 { #expect(json?["error"] != nil) }
    }
}
