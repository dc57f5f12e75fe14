import TestSupport
import AgentRuntime
import Boards
import Foundation
import HALSimulation
import HALTesting
import Identity
import Logging
import Testing

/// One doctor plan: `fieldagent doctor` and the `runDiagnostics` direct method check the same
/// things for the same board and configuration.
@Suite struct DoctorPlanTests {
    /// The built `fieldagent`, beside this test bundle.
    func fieldagent(_ arguments: [String]) throws -> (status: Int32, stdout: Data) {
        let outcome = try run(try builtExecutable("fieldagent"), arguments)
        return (outcome.status, Data(outcome.stdout.utf8))
    }

    func checkIDs(_ report: Data) throws -> [String] {
        let json = try JSONSerialization.jsonObject(with: report) as? [String: Any]
        return try #require(json?["checks"] as? [[String: Any]]).compactMap { $0["id"] as? String }
    }

    @Test func runDiagnosticsAndTheDoctorCommandRunTheSameChecks() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-plan")
        let directory = folder.path
        let pki = try DevPKI.generate(outputDirectory: directory + "/pki", devices: ["factory-line-01"], now: Date())
        let device = try #require(pki.files.devices["factory-line-01"])
        // Every agent check is named: a state directory, a certificate, a hub (nothing listens on
        // port 1, so the link fails the same way on both sides) and a predictor socket.
        let file = directory + "/agent.yaml"
        try """
            board: \(repositoryPath("boards/sim-factory-line.yaml"))
            state_dir: \(directory)/state
            hub: { host: 127.0.0.1, port: 1, cert: \(device.certificate), key: \(device.key), ca: \(pki.files.caChain) }
            predictor: { socket: \(directory)/predictor.sock }
            """.write(toFile: file, atomically: true, encoding: .utf8)

        let command = try fieldagent(["doctor", "--board", "boards/sim-factory-line.yaml", "--config", file, "--json"])
        #expect(command.status == 2, "the link cannot connect")
        let fromCommand = try checkIDs(command.stdout)

        let config = try AgentConfig.load(file: file, environment: ProcessInfo.processInfo.environment)
        let board = try openBoard("sim-factory-line")
        let agent = Agent(board: board, options: .init(agentVersion: "test", config: config),
                          hub: config.link.clientSettings(defaultDeviceID: board.file.deviceID), logger: Logger(label: "test"))
        let (status, body) = agent.invoke("runDiagnostics", payload: [])
        #expect(status == 200)
        let fromMethod = try checkIDs(Data(body))

        #expect(fromMethod == fromCommand)
        for id in ["bus:/dev/i2c-1:scan", "chip:ambient:present", "gpio:status_led", "clock", "outbox", "cert:validity", "cert:device id",
                   "link", "predictor"] {
            #expect(fromCommand.contains(id), "\(id) missing from \(fromCommand)")
        }
    }

    @Test func withoutAgentSettingsTheBoardAndTheClockAreChecked() throws {
        let board = try openBoard("sim-factory-line")
        let report = DoctorPlan(config: AgentConfig(), reads: 2, link: .probe).run(board)
        #expect(!report.checks.isEmpty)
        #expect(report.checks.allSatisfy { ["bus:", "chip:", "gpio:", "clock"].contains(where: $0.id.hasPrefix) }, "\(report.checks.map(\.id))")
        #expect(report.checks.filter { $0.id == "clock" }.count == 1)
    }

    @Test func theClockRowSaysWhetherTheClockIsSynchronisedAndHowToFixIt() throws {
        let monotonic = VirtualClock()
        let now = Duration.seconds(AgentChecks.buildDate.timeIntervalSince1970) + .seconds(86400)
        let synced = ManualWallClock(start: now, following: monotonic, synchronised: true, source: "kernel (adjtimex)")
        let ok = AgentChecks.clock(synced, simulatedBoard: false)
        #expect(ok.status == .ok)
        #expect(ok.detail.hasPrefix("synchronised (kernel (adjtimex))"), "\(ok.detail)")

        let unsynced = ManualWallClock(start: now, following: monotonic, source: "kernel (adjtimex: STA_UNSYNC)")
        let warn = AgentChecks.clock(unsynced, simulatedBoard: false)
        #expect(warn.status == .warn)
        #expect(warn.detail.hasPrefix("unsynchronised (kernel (adjtimex: STA_UNSYNC))"), "\(warn.detail)")
        #expect(warn.fix?.contains("timedatectl set-ntp true") == true)
        #expect(warn.fix?.contains("systemctl status systemd-timesyncd") == true)

        // fake-hwclock restored a time before this build: never set, whatever the sync state says.
        let early = ManualWallClock(start: now - .seconds(400 * 86400), following: monotonic, synchronised: true)
        for simulated in [false, true] {
            let fail = AgentChecks.clock(early, simulatedBoard: simulated)
            #expect(fail.status == .fail)
            #expect(fail.detail.contains("earlier than this build (2026-12-03T00:00:00Z)"), "\(fail.detail)")
            #expect(fail.fix?.contains("timedatectl set-ntp true") == true)
        }

        let simulated = AgentChecks.clock(unsynced, simulatedBoard: true)
        #expect(simulated.status == .ok)
        #expect(simulated.detail.contains("simulated board"))
    }

    @Test func theDoctorPlanUsesItsWallClock() throws {
        let monotonic = VirtualClock()
        let early = ManualWallClock(start: .seconds(1_600_000_000), following: monotonic)
        let report = DoctorPlan(config: AgentConfig(), reads: 1, link: .probe, wallClock: early).run(try openBoard("sim-factory-line"))
        let clock = try #require(report.checks.first { $0.id == "clock" })
        #expect(clock.status == .fail)
        #expect(report.checks.last?.id == "clock" || report.checks.contains { $0.id == "clock" })
    }

    @Test func thePredictorIsCheckedWhenTheRouteUsesIt() throws {
        var config = AgentConfig()
        config.alerts.route = .predictor
        let report = DoctorPlan(config: config, reads: 1, link: .probe).run(try openBoard("sim-factory-line"))
        let predictor = try #require(report.checks.first { $0.id == "predictor" })
        #expect(predictor.title.contains(AlertsConfig.defaultPredictorSocket))
    }
}
