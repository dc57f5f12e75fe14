import TestSupport
import AgentRuntime
import Boards
import Foundation
import Identity
import Logging
import Testing

/// One doctor plan: `fieldagent doctor` and the `runDiagnostics` direct method check the same
/// things for the same board and configuration.
@Suite struct DoctorPlanTests {
    /// The built `fieldagent`, beside this test bundle.
    func fieldagent(_ arguments: [String]) throws -> (status: Int32, stdout: Data) {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fieldagent").path,
            "\(repositoryRoot)/.build/debug/fieldagent",
        ]
        let executable = try #require(candidates.first { FileManager.default.isExecutableFile(atPath: $0) }, "build fieldagent first")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, stdout)
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
        for id in ["bus:/dev/i2c-1:scan", "chip:ambient:present", "gpio:status_led", "outbox", "cert:validity", "cert:device id",
                   "link", "predictor"] {
            #expect(fromCommand.contains(id), "\(id) missing from \(fromCommand)")
        }
    }

    @Test func withoutAgentSettingsOnlyTheBoardIsChecked() throws {
        let board = try openBoard("sim-factory-line")
        let report = DoctorPlan(config: AgentConfig(), reads: 2, link: .probe).run(board)
        #expect(!report.checks.isEmpty)
        #expect(report.checks.allSatisfy { ["bus:", "chip:", "gpio:"].contains(where: $0.id.hasPrefix) }, "\(report.checks.map(\.id))")
    }

    @Test func thePredictorIsCheckedWhenTheRouteUsesIt() throws {
        var config = AgentConfig()
        config.alerts.route = .predictor
        let report = DoctorPlan(config: config, reads: 1, link: .probe).run(try openBoard("sim-factory-line"))
        let predictor = try #require(report.checks.first { $0.id == "predictor" })
        #expect(predictor.title.contains(AlertsConfig.defaultPredictorSocket))
    }
}
