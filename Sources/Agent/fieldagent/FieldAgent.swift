import ArgumentParser
import Configuration
import Logging

@main
struct FieldAgent: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fieldagent",
        abstract: "A device agent for Raspberry Pi-class boards: sensors, diagnostics and the cloud link.",
        discussion: """
            Exit codes: 0 success (doctor: healthy), 1 doctor found warnings, 2 doctor found failures \
            or the command failed, 64 usage or board-file error.
            """,
        version: "0.1.0",
        subcommands: [Doctor.self, Read.self, Run.self, Status.self, BoardCommand.self, Certs.self, InterfaceSamples.self]
    )
}

/// Options every board-facing subcommand shares.
struct BoardOptions: ParsableArguments {
    @Option(name: .long, help: "The board file (boards/*.yaml).")
    var board: String

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .notice

    @Option(name: .long, help: "Simulated boards: how fast simulated time runs (1 = real time, 60 = a minute a second, 0 = as fast as possible). Default: the board file's.")
    var timeScale: Double?

    func validate() throws {
        if let timeScale, timeScale < 0 { throw ValidationError("--time-scale must be 0 or more") }
    }
}

