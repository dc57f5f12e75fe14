import AgentRuntime
import Boards
import Configuration
import Foundation
import HALSimulation
import Logging
import SensorCore
import Synchronization
import Testing
import TestSupport

/// Issue 7 routing: the real `spike-predictor` process over its Unix socket, killed and
/// restarted mid-stream; a predictor slower than its deadline; the alarm line after a spike.
@Suite(.serialized) struct SpikeRoutingTests {
    static let binary = "\(repositoryRoot)/.build/debug/spike-predictor"

    func startPredictor(_ socket: String, model: String = "\(repositoryRoot)/models/spike-gbt.v3.json") throws -> Process {
        unlink(socket)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--socket", socket, "--model", model]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let end = Date().addingTimeInterval(10)
        while Date() < end, access(socket, F_OK) != 0 { usleep(10_000) }
        usleep(50_000)
        return process
    }

    /// One sample: temperature around 22.5 °C with a little noise, or a +8 °C spike.
    func sample(_ i: Int, spike: Bool = false) -> [Reading] {
        let noise = Double((i * 7919) % 11 - 5) * 0.01
        return [Reading(sensor: "ambient", channel: .temperature, value: .celsius(22.5 + noise + (spike ? 8 : 0)),
                        quality: .good, time: .seconds(i))]
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary), "build spike-predictor first (swift build)"))
    func aKilledPredictorFallsBackWithinOneDeadlineAndIsUsedAgainWhenItReturns() throws {
        let socket = "/tmp/fa-route-\(getpid()).sock"
        var predictor = try startPredictor(socket)
        defer { end(predictor, signal: SIGKILL); unlink(socket) }
        let router = SpikeRouter(deviceID: "d1", socketPath: socket, deadline: .milliseconds(50),
                                 retryInterval: .milliseconds(200), logger: Logger(label: "test"))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var i = 0
        func next(spike: Bool = false) -> [SpikeAlert] {
            i += 1
            return router.classify(sample(i, spike: spike), capturedAt: start.addingTimeInterval(Double(i * 2)),
                                   route: .predictor, threshold: 0.35)
        }
        // 0.35: spike-gbt.v3's decision threshold, so the spike's first sample (0.38) alerts.
        for _ in 0..<40 { _ = next() }
        #expect(router.source == .predictor)
        #expect(router.samplesByPredictor == 40)
        // The model (not the fallback) raises the alert for a spike.
        let alerts = next(spike: true)
        #expect(alerts.map(\.source) == ["predictor"])
        #expect(alerts.first?.modelId.hasPrefix("spike-gbt.v3-") == true)

        end(predictor, signal: SIGKILL)
        let before = ContinuousClock.now
        _ = next()
        #expect(ContinuousClock.now - before < .milliseconds(50) + .milliseconds(30), "fallback within one deadline")
        #expect(router.source == .fallback)
        for _ in 0..<20 { _ = next() }
        // Every sample got a verdict from one side or the other: none was lost on the way.
        #expect(router.samplesByPredictor + router.samplesByFallback == i)
        // The fallback still flags a spike while the predictor is away, and says so.
        for _ in 0..<4 { _ = next() }
        #expect(next(spike: true).map(\.source) == ["fallback"])

        predictor = try startPredictor(socket)
        var back = false
        for _ in 0..<50 where !back {
            usleep(20_000)
            _ = next()
            back = router.source == .predictor
        }
        #expect(back, "back on the predictor once it answers again")
    }

    @Test func aPredictorSlowerThanItsDeadlineIsReplacedByTheFallback() throws {
        // A socket that accepts connections into its backlog but never answers.
        let socket = "/tmp/fa-slow-\(getpid()).sock"
        unlink(socket)
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd); unlink(socket) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (k, byte) in socket.utf8.enumerated() { raw[k] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        #expect(listen(fd, 16) == 0)
        let router = SpikeRouter(deviceID: "d1", socketPath: socket, deadline: .milliseconds(40),
                                 retryInterval: .seconds(60), logger: Logger(label: "test"))
        let before = ContinuousClock.now
        _ = router.classify(sample(1), capturedAt: Date(), route: .predictor, threshold: 0.5)
        let waited = ContinuousClock.now - before
        #expect(waited >= .milliseconds(40) && waited < .milliseconds(200), "waited \(waited)")
        #expect(router.source == .fallback)
        // Until the retry interval passes, later samples do not wait on the slow predictor again.
        let second = ContinuousClock.now
        _ = router.classify(sample(2), capturedAt: Date().addingTimeInterval(2), route: .predictor, threshold: 0.5)
        #expect(ContinuousClock.now - second < .milliseconds(20))
    }

    @Test func withRouteHubTheFallbackStillFlagsSpikes() {
        let router = SpikeRouter(deviceID: "d1", socketPath: nil, logger: Logger(label: "test"))
        let start = Date()
        var alerts: [SpikeAlert] = []
        for i in 1...45 {
            alerts += router.classify(sample(i, spike: i == 40), capturedAt: start.addingTimeInterval(Double(i)), route: .hub, threshold: 0.5)
        }
        #expect(alerts.count == 1)
        #expect(alerts.first?.source == "fallback")
        #expect(alerts.first?.value ?? 0 > 30)
        #expect(router.samplesByPredictor == 0)
    }

    /// The default persistence rule is the one the predictor's evaluation chose and the shipped
    /// model carries: that many consecutive spiking samples.
    @Test func theDefaultPersistenceIsTheShippedModelsConsecutiveSamples() throws {
        let model = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repositoryPath("models/spike-gbt.v3.json"))))
        let persistence = try #require((model as? [String: Any])?["persistence"] as? Int)
        #expect(AlertsConfig().spikePersistence == Persistence(hits: persistence, samples: persistence))
    }

    @Test func theAlarmLineGoesHighAfterAPlantedSpikeAndDropsAfterItsHoldTime() throws {
        let board = try openBoard("sim-factory-line")
        let alerts = Mutex<[SpikeAlert]>([])
        var config = testConfig(sendFrequency: .seconds(30))
        config.alerts.alarmHold = .seconds(20)
        let agent = Agent(board: board, options: .init(agentVersion: "test", config: config, count: 8), hub: nil, logger: Logger(label: "test"),
                          alertOutput: { alert in alerts.withLock { $0.append(alert) } })
        try agent.run()
        let raised = alerts.withLock { $0 }
        // The temperature spike planted at 2:00 on both temperature sensors (30 s: 15 samples, so
        // the default rule of three consecutive spiking samples lets it through, at the third).
        #expect(raised.contains { $0.sensor == "ambient" && $0.channel == "temperature" && $0.value > 28 })
        let alarm = try #require(board.simulation?.gpioChip)
        let history = alarm.history(27)
        let rise = try #require(history.first { $0.level }, "the alarm line never went high: \(history)")
        #expect(rise.time >= .seconds(120) && rise.time <= .seconds(126), "raised at \(rise.time)")
        #expect(history.contains { !$0.level && $0.time >= rise.time + .seconds(20) }, "lowered after the hold: \(history)")
    }

    /// The model's persistence and the agent's are one rule, not two stacked: with a model that
    /// asks for 2 consecutive samples and the agent's rule of 2 of the last 2, a spike of two
    /// samples alerts on its second (stacked, the model's second verdict would be the agent's
    /// first hit, and only a third spiking sample would alert).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary), "build spike-predictor first (swift build)"))
    func theModelsPersistenceIsNotAppliedTwice() throws {
        let folder = try TemporaryDirectory(prefix: "fa-persist")
        let original = try String(contentsOfFile: repositoryPath("models/spike-forest.v1.json"), encoding: .utf8)
        let twoInARow = original.replacingOccurrences(of: #""decision_threshold":0.4,"#, with: #""decision_threshold":0.4,"persistence":2,"#)
        #expect(twoInARow != original)
        let model = folder.file("two-in-a-row.json")
        try twoInARow.write(toFile: model, atomically: true, encoding: .utf8)
        let socket = "/tmp/fa-persist-\(getpid()).sock"
        let predictor = try startPredictor(socket, model: model)
        defer { end(predictor, signal: SIGKILL); unlink(socket) }
        let router = SpikeRouter(deviceID: "d1", socketPath: socket, deadline: .seconds(2),
                                 persistence: Persistence(hits: 2, samples: 2), logger: Logger(label: "test"))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var i = 0
        func next(spike: Bool = false) -> [SpikeAlert] {
            i += 1
            return router.classify(sample(i, spike: spike), capturedAt: start.addingTimeInterval(Double(i * 2)),
                                   route: .predictor, threshold: nil)
        }
        for _ in 0..<40 { _ = next() }
        #expect(router.source == .predictor)
        #expect(next(spike: true).isEmpty, "one spiking sample is not two")
        let second = next(spike: true)
        #expect(second.map(\.source) == ["predictor"], "the second spiking sample in a row alerts")
        #expect(second.first?.persistence == Persistence(hits: 2, samples: 2))
    }
}
