import Boards
import Diagnostics
import FoundationEssentials
import HAL
import HALLinux
import HubClient

/// The doctor's one plan: the board's checks (buses, chips, readings, self-tests, GPIO), then the
/// agent's: the system clock always, the rest as far as the configuration names them: the outbox (a state directory), the device
/// certificate (a certificate and key), the hub link (a hub) and the spike predictor (route
/// predictor or a socket given). `fieldagent doctor` and the `runDiagnostics` direct method both
/// run it, so they report the same checks for the same board and configuration.
public struct DoctorPlan: Sendable {
    /// How the hub link is checked.
    public enum LinkCheck: Sendable {
        /// Connect as the device (TLS, MQTT CONNECT): `fieldagent doctor`.
        case probe
        /// The running agent's own link: a probe would take over its connection.
        case live(@Sendable () -> HubClient?)
    }

    public var config: AgentConfig
    /// Readings per sensor.
    public var reads: Int
    public var link: LinkCheck
    /// The system's wall clock (the kernel's and systemd's view), injected for tests.
    public var wallClock: any WallClock
    /// Called with a short line whenever a board step starts.
    public var progress: @Sendable (String) -> Void

    public init(config: AgentConfig, reads: Int, link: LinkCheck, wallClock: any WallClock = SystemWallClock(),
                progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.config = config
        self.reads = reads
        self.link = link
        self.wallClock = wallClock
        self.progress = progress
    }

    public func run(_ board: Board) -> DoctorReport {
        var report = Doctor(reads: reads, progress: progress).run(board)
        report.checks.append(AgentChecks.clock(wallClock, simulatedBoard: board.file.backend == .simulated))
        if let stateDirectory = config.core.stateDirectory {
            report.checks.append(AgentChecks.outbox(stateDirectory: stateDirectory))
        }
        let provisioning = AgentProvisioning(config: config)
        if let cert = config.link.cert, let key = config.link.key {
            // With DPS the certificate's CN is the registration id.
            let expected = provisioning.isEnabled ? (try? provisioning.registrationID()) : nil
            report.checks += AgentChecks.certificate(certificateFile: cert, keyFile: key, trustAnchors: nil,
                                                     deviceID: expected ?? config.link.deviceID ?? board.file.deviceID)
        }
        if let check = AgentChecks.provisioning(config) { report.checks.append(check) }
        // With DPS the hub is the kept assignment's (none yet: no hub to check).
        let hub = provisioning.isEnabled ? provisioning.cachedRecord().flatMap { try? provisioning.settings(for: $0) }
            : config.link.clientSettings(defaultDeviceID: board.file.deviceID)
        if let settings = hub {
            switch link {
            case .probe: report.checks.append(AgentChecks.link(settings))
            case .live(let client): report.checks.append(AgentChecks.liveLink(client(), settings: settings))
            }
        }
        if config.alerts.checksPredictor {
            report.checks.append(AgentChecks.predictor(socket: config.alerts.effectivePredictorSocket))
        }
        return report
    }
}

/// `runDiagnostics`: the doctor plan as JSON, on the running agent: between two samples on the
/// sampling thread (the doctor uses the same drivers), one run at a time (another call meanwhile
/// is answered 409).
final class DiagnosticsFeature: Feature {
    let name = "diagnostics"
    let configuration: DoctorPlan
    let board: Board
    let samplingSide: SamplingSide

    init(plan: DoctorPlan, board: Board, samplingSide: SamplingSide) {
        configuration = plan
        self.board = board
        self.samplingSide = samplingSide
    }

    var methods: [DirectMethod] {
        [DirectMethod(name: "runDiagnostics") { [self] _ in
            let result = samplingSide.run { [self] () -> MethodResult in
                guard let report = reportJSON() else { return .error(500, "the doctor report could not be encoded") }
                return MethodResult(status: 200, body: report)
            }
            return result ?? .error(409, "a diagnostics run is already in progress; try again when it has answered")
        }]
    }

    /// The doctor's report as JSON (nil: it could not be encoded).
    func reportJSON() -> [UInt8]? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(configuration.run(board))).map(Array.init)
    }
}
