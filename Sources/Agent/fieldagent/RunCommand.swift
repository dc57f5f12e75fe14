import CLISupport
import AgentRuntime
import ArgumentParser
import Boards
import Configuration
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HubClient
import Logging
import Provisioning
import Synchronization
import SystemCalls

extension FieldAgent {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent: sample the board and send one telemetry message per send period.",
            discussion: """
                Every setting has a default, may be set in --config agent.yaml, in a FIELDAGENT_<KEY> \
                environment variable, or by a flag; each overrides the one before (docs/configuration.md \
                lists every key). With a hub, the device twin may change sendFrequency (or \
                telemetryConfig.sendFrequency), channels, spikeThreshold, route, aggregateWindow and \
                upstream while the agent runs; applied values are kept in --state-dir.
                """)

        enum Sink: String, ExpressibleByArgument, CaseIterable {
            case stdout
            case hub
        }

        @Option(help: "The agent configuration file (YAML), with the keys of docs/configuration.md.")
        var config: String?

        @Option(name: .long, help: settingHelp("board"))
        var board: String?

        @Option(name: .long, help: settingHelp("log_level"))
        var logLevel: String?

        @Option(name: .long, help: settingHelp("time_scale"))
        var timeScale: String?

        @Option(help: "Where telemetry goes: \(Sink.allCases.map(\.rawValue).joined(separator: ", ")) (default: hub when a hub is configured).")
        var sink: Sink?

        @Option(help: settingHelp("send_frequency"))
        var sendFrequency: String?

        @Option(help: settingHelp("upstream"))
        var upstream: String?

        @Option(help: settingHelp("aggregate_window"))
        var aggregateWindow: String?

        @Option(help: settingHelp("heartbeat_interval"))
        var heartbeatInterval: String?

        @Option(help: settingHelp("state_dir"))
        var stateDir: String?

        @Option(help: settingHelp("runtime_dir"))
        var runtimeDir: String?

        @Option(help: "Stop after this many messages.")
        var count: Int?

        @Option(help: settingHelp("flush_timeout"))
        var flushTimeout: String?

        @Option(help: settingHelp("outbox.drain_rate"))
        var drainRate: String?

        @Option(help: settingHelp("outbox.drain_jitter"))
        var drainJitter: String?

        @Option(help: settingHelp("outbox.quota"))
        var outboxQuota: String?

        @Option(help: settingHelp("outbox.max_age"))
        var outboxMaxAge: String?

        @Option(help: settingHelp("clock.sync_wait"))
        var clockSyncWait: String?

        @Option(help: settingHelp("route"))
        var route: String?

        @Option(help: settingHelp("spike_persistence"))
        var spikePersistence: String?

        @Option(help: settingHelp("predictor.socket"))
        var predictorSocket: String?

        @Option(help: settingHelp("predictor.deadline"))
        var predictorDeadline: String?

        @Option(help: settingHelp("metrics.listen"))
        var metricsListen: String?

        @Option(help: settingHelp("page.listen"))
        var pageListen: String?

        @Option(help: settingHelp("page.token_file"))
        var pageTokenFile: String?

        @OptionGroup var link: HubOptions

        func validate() throws {
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        }

        func run() throws {
            // SIGINT/SIGTERM ask the agent to stop after the current sample (then it flushes and
            // exits). Set first, so every thread the agent starts inherits the blocked signals.
            let stopping = Mutex<(agent: Agent?, asked: Bool)>((nil, false))
            // Ends a wait between DPS attempts at once.
            let stopWake = WakeUp()
            guard POSIX.onTerminationSignals({ _ in
                stopWake.raise()
                stopping.withLock { $0.asked = true; return $0.agent }?.stop()
            }) == 0 else {
                printError("fieldagent: could not start the signal thread")
                throw Exit.failed
            }
            var required = [Requirement("board", "run samples a board")]
            if sink == .hub { required.append(Requirement("hub.host", "--sink hub sends to a hub")) }
            let config = try loadSettings(file: self.config, flags: givenOptions(self) + givenOptions(link), required: required)
            // Recent lines stay in memory for getLogs and getSupportBundle (256 KB).
            let ring = LogRing()
            let level = config.core.logLevel
            let logger = bootstrapLogging(level, label: "fieldagent") { label in RingLogHandler(label: label, ring: ring, level: level) }
            let board = try openBoard(path: config.core.board ?? "", timeScale: config.core.timeScale)
            var hub = sink == .stdout ? nil : config.link.clientSettings(defaultDeviceID: board.file.deviceID)
            // DPS: the hub address and device id come from the assignment (cached in state_dir).
            var provisioned: ProvisionedHub?
            if sink != .stdout, config.provisioning.endpoint != nil {
                guard let found = try provisionedHub(config: config, logger: logger, stopWake: stopWake) else { return }
                (hub, provisioned) = (found.settings, found.provisioned)
            }
            // A new assignment while running (the hub refused the device, reprovision) ends the
            // agent's run; an agent on the new hub takes over in this process.
            while true {
                let next = try runAgent(config: config, board: board, hub: hub, provisioned: provisioned, ring: ring, logger: logger,
                                        stopping: stopping)
                guard let record = next, let current = provisioned else { return }
                hub = try current.provisioning.settings(for: record)
                provisioned = ProvisionedHub(provisioning: current.provisioning, record: record)
            }
        }

        /// Runs one agent until it ends; returns the new DPS assignment that ended it, if one did.
        func runAgent(config: AgentConfig, board: Board, hub: HubClient.Settings?, provisioned: ProvisionedHub?, ring: LogRing,
                      logger: Logger, stopping: borrowing Mutex<(agent: Agent?, asked: Bool)>) throws -> ProvisioningRecord? {
            // A link setting that cannot work is an exit now, never a link that stops (or fails
            // every attempt) while the process looks healthy.
            if let problems = hub?.problems(), !problems.isEmpty {
                printError("fieldagent: the hub link cannot work with these settings:\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
                throw Exit.usage
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let printing = hub == nil
            var options = Agent.Options(agentVersion: FieldAgent.configuration.version, config: config, count: count, logRing: ring)
            options.provisioned = provisioned
            let agent = Agent(board: board, options: options,
                              hub: hub, logger: logger, output: { message in
                if printing { writeLine(String(decoding: message.jsonBytes(), as: UTF8.self)) }
            }, alertOutput: { alert in
                if printing, let data = try? encoder.encode(alert) { writeLine(String(decoding: data, as: UTF8.self)) }
            })
            if stopping.withLock({ $0.agent = agent; return $0.asked }) { agent.stop() }
            logger.notice("sampling \(board.file.name) every \(DurationText.format(min(board.file.sampling.interval, agent.settings.sendFrequency))), sending every \(DurationText.format(agent.settings.sendFrequency))\(hub.map { " to \($0.webSocketPath == nil ? "" : "wss://")\($0.host):\($0.port)\($0.webSocketPath ?? "")" } ?? "")")
            let flushed: Bool
            do {
                flushed = try agent.run()
            } catch {
                printError("fieldagent: \(error)")
                throw Exit.usage
            }
            if let record = agent.reassigned, !stopping.withLock({ $0.asked }) { return record }
            if !flushed {
                let client = agent.hubClient
                printError("fieldagent: \(agent.leftUnacknowledged) message(s) not acknowledged by the hub yet (kept in the outbox for the next start): \(client?.lastError ?? "no answer")")
                throw Exit.failed
            }
            return nil
        }

        /// The hub settings DPS gives (or the cached assignment); retriable failures are retried
        /// with a doubling wait (2 s … 5 min) until a stop signal (nil: stopped). A refusal exits.
        func provisionedHub(config: AgentConfig, logger: Logger, stopWake: WakeUp) throws
            -> (settings: HubClient.Settings, provisioned: ProvisionedHub)? {
            let provisioning = AgentProvisioning(config: config)
            // Settings that cannot work are an exit now, not a retry loop.
            let problems = provisioning.problems()
            if !problems.isEmpty {
                printError("fieldagent: DPS cannot work with these settings:\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
                throw Exit.usage
            }
            var delay = Duration.seconds(2)
            while true {
                do throws(ProvisioningError) {
                    let (settings, record) = try provisioning.hubSettings(logger: logger)
                    return (settings, ProvisionedHub(provisioning: provisioning, record: record))
                } catch where error.isRetriable {
                    logger.warning("\(error); asking DPS again in \(DurationText.format(delay))", metadata: ["feature": "provisioning"])
                    if stopWake.wait(timeout: delay) { return nil }
                    delay = min(delay * 2, .seconds(300))
                } catch {
                    printError("fieldagent: \(error)")
                    throw Exit.failed
                }
            }
        }
    }
}

/// Where the hub is and who this device is (issue 3): flags of run and doctor, read into the
/// same keys as agent.yaml's `hub:` section.
struct HubOptions: ParsableArguments {
    @Option(help: "The hub: HOST or HOST:PORT (IoT Hub, an IoT Edge gateway, LocalHub or an MQTT broker; port 8883 by default), or wss://HOST[:PORT] for MQTT over WebSockets (port 443 by default).\(environmentNote("hub.host"))")
    var hub: String?

    @Option(help: "Device id (default: the board file's device_id); must equal the certificate's CN.\(environmentNote("device_id"))")
    var deviceID: String?

    @Option(help: "Device certificate chain (PEM, leaf first).\(environmentNote("hub.cert"))")
    var cert: String?

    @Option(help: "Device private key: a PEM file (mode 0600) or a TPM key URI (handle:0x81000001).\(environmentNote("hub.key"))")
    var key: String?

    @Option(help: "Trust anchors for the hub: a PEM file or a folder (e.g. certs/trust/ for Azure).\(environmentNote("hub.ca"))")
    var ca: String?

    @Option(help: "The DTDL model id announced at connect (IoT Plug and Play). Default: FieldAgent's (firmware-interface/).\(environmentNote("hub.model_id"))")
    var modelID: String?

    @Option(help: "The name the hub's certificate must carry, when it differs from --hub's host.\(environmentNote("hub.expected_host_name"))")
    var expectedHostName: String?

    @Option(help: "An HTTP proxy to reach the hub through: http://[user:password@]host:port.\(environmentNote("hub.proxy"))")
    var proxy: String?

    @Option(help: "An IoT Edge gateway to connect through: HOST[:PORT]; --hub stays the IoT hub's name.\(environmentNote("hub.gateway"))")
    var gateway: String?

    @Option(help: settingHelp("provisioning.endpoint"))
    var dps: String?

    @Option(help: settingHelp("provisioning.id_scope"))
    var idScope: String?

    @Option(help: settingHelp("provisioning.issue_certificate"))
    var issueCertificate: String?
}
