import AgentRuntime
import ArgumentParser
import Boards
import Configuration
import Foundation
import HubClient
import IoTHub
import Logging

extension FieldAgent {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent: sample the board and send one telemetry message per send period.",
            discussion: """
                Settings come from --config agent.yaml (see docs/agent-config.md) and these flags; a flag \
                overrides the file. With a hub, the device twin may change sendFrequency, channels, \
                spikeThreshold and route while the agent runs; applied values are kept in --state-dir.
                """)

        enum Sink: String, ExpressibleByArgument, CaseIterable {
            case stdout
            case hub
        }

        @Option(help: "The agent configuration file (YAML): board, device id, hub, state directory, send frequency, route.")
        var config: String?

        @Option(name: .long, help: "The board file (boards/*.yaml); required here or in --config.")
        var board: String?

        @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level?

        @Option(name: .long, help: "Simulated boards: how fast simulated time runs (1 = real time, 60 = a minute a second, 0 = as fast as possible). Default: the board file's.")
        var timeScale: Double?

        @Option(help: "Where telemetry goes: \(Sink.allCases.map(\.rawValue).joined(separator: ", ")) (default: hub when a hub is configured).")
        var sink: Sink?

        @Option(help: "How often a message is sent: 30s, 5m, 1h or ISO 8601 (PT30S); 1 s … 24 h. Default: the board file's.")
        var sendFrequency: String?

        @Option(help: "Where the agent keeps its state (twin settings, outbox). Default: $FIELDAGENT_STATE_DIR, or none.")
        var stateDir: String?

        @Option(help: "Stop after this many messages.")
        var count: Int?

        @Option(help: "At the end (--count reached, SIGTERM), how long to wait for the hub to acknowledge what was sent, e.g. 30s. What is left stays in the outbox.")
        var flushTimeout: String?

        @Option(help: "Backlog messages per second after a reconnect (live readings are not paced). Default 50.")
        var drainRate: Double?

        @Option(help: "Outbox size quota, e.g. 64MB (oldest aggregates are dropped first, and counted). Default 128MB.")
        var outboxQuota: String?

        @Option(help: "Outbox maximum age, e.g. 7d (older messages are dropped, and counted). Default 7d.")
        var outboxMaxAge: String?

        @Option(help: "Where each reading goes first: hub (the in-agent detector flags spikes) or predictor (the co-located spike predictor, with the in-agent detector as fallback). The twin may change it.")
        var route: Route?

        @Option(help: "The spike predictor's Unix socket (route predictor). Default: /run/fieldagent/predictor.sock.")
        var predictorSocket: String?

        @Option(help: "How long a sample waits for the predictor before the fallback detector answers, e.g. 50ms.")
        var predictorDeadline: String?

        @OptionGroup var link: HubOptions

        func validate() throws {
            if let sendFrequency { _ = try parseSendFrequency(sendFrequency) }
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
            if let timeScale, timeScale < 0 { throw ValidationError("--time-scale must be 0 or more") }
            if let flushTimeout, (try? DurationText.parse(flushTimeout)) == nil {
                throw ValidationError("--flush-timeout: '\(flushTimeout)' is not a duration, e.g. 30s")
            }
            if let predictorDeadline {
                guard let deadline = try? DurationText.parse(predictorDeadline), deadline >= .milliseconds(1), deadline <= .seconds(10) else {
                    throw ValidationError("--predictor-deadline: '\(predictorDeadline)' is not a duration from 1ms to 10s, e.g. 50ms")
                }
            }
            if let drainRate, !(drainRate > 0 && drainRate <= 100_000) { throw ValidationError("--drain-rate must be above 0 and at most 100000 messages/s") }
            if let outboxQuota, (AgentConfig.parseByteSize(outboxQuota) ?? 0) < 64 * 1024 {
                throw ValidationError("--outbox-quota: '\(outboxQuota)' is not a size of at least 64KB; write e.g. 512KB, 64MB or 1GB")
            }
            if let outboxMaxAge {
                do {
                    let age = try DurationText.parse(outboxMaxAge)
                    if age < .seconds(60) { throw ValidationError("--outbox-max-age must be at least 1m") }
                } catch let error as ValidationError { throw error } catch {
                    throw ValidationError("--outbox-max-age: \(error)")
                }
            }
            if config == nil {
                if board == nil { throw ValidationError("--board is required (or give --config with a board: line)") }
                if sink == .hub || link.hub != nil { try link.validateFlags() }
            }
        }

        func run() async throws {
            let file: AgentConfig?
            do {
                file = try config.map(AgentConfig.load)
            } catch {
                printError("fieldagent: \(config ?? "") has \(error)")
                throw Exit.usage
            }
            let merged: RunSettings
            do {
                merged = try RunSettings(flags: self, file: file)
            } catch {
                printError("fieldagent: \(error)")
                throw Exit.usage
            }
            let logger = bootstrapLogging(merged.logLevel)
            let board = try openBoard(path: merged.board, timeScale: timeScale)
            var initial = AgentSettings(sendFrequency: merged.sendFrequency ?? board.file.sampling.sendFrequency)
            initial.route = route ?? merged.route ?? .hub
            let hub = try merged.hub.map { try $0.settings(defaultDeviceID: board.file.deviceID) }
            var options = Agent.Options(agentVersion: FieldAgent.configuration.version, initialSettings: initial,
                                        stateDirectory: merged.stateDirectory, count: count,
                                        certificateFile: hub?.certificateFile)
            options.drainRate = drainRate ?? file?.outbox.drainRate ?? options.drainRate
            options.predictorSocket = predictorSocket ?? file?.predictor.socket ?? "/run/fieldagent/predictor.sock"
            if let deadline = try predictorDeadline.map({ try DurationText.parse($0) }) ?? file?.predictor.deadline {
                options.predictorDeadline = deadline
            }
            if let quota = outboxQuota.flatMap(AgentConfig.parseByteSize) ?? file?.outbox.quotaBytes { options.outbox.quotaBytes = quota }
            if let age = try outboxMaxAge.map({ try DurationText.parse($0) }) ?? file?.outbox.maximumAge { options.outbox.maximumAge = age }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let printing = hub == nil || sink == .stdout
            let agent = Agent(board: board, options: options, hub: hub, logger: logger, output: { message in
                if printing, let data = try? encoder.encode(message) { writeLine(String(decoding: data, as: UTF8.self)) }
            }, alertOutput: { alert in
                if printing, let data = try? encoder.encode(alert) { writeLine(String(decoding: data, as: UTF8.self)) }
            })
            logger.notice("sampling \(board.file.name) every \(DurationText.format(min(board.file.sampling.interval, agent.settings.sendFrequency))), sending every \(DurationText.format(agent.settings.sendFrequency))\(hub.map { " to \($0.host):\($0.port)" } ?? "")")
            let signals = stopOnSignals { agent.stop() }
            defer { signals.forEach { $0.cancel() } }
            let flushed: Bool
            do {
                flushed = try agent.run(flushTimeout: flushTimeout.flatMap { try? DurationText.parse($0) } ?? .seconds(30))
            } catch {
                printError("fieldagent: \(error)")
                throw Exit.usage
            }
            if !flushed {
                let client = agent.hubClient
                printError("fieldagent: \(agent.leftUnacknowledged) message(s) not acknowledged by the hub yet (kept in the outbox for the next start): \(client?.lastError ?? "no answer")")
                throw Exit.failed
            }
        }
    }
}

/// Flags over agent.yaml over defaults, with every missing or conflicting setting reported at once.
struct RunSettings {
    var board: String
    var logLevel: Logger.Level
    var sendFrequency: Duration?
    var stateDirectory: String?
    var route: Route?
    var hub: HubOptions?

    init(flags: FieldAgent.Run, file: AgentConfig?) throws {
        var problems: [String] = []
        board = flags.board ?? file?.board ?? ""
        if board.isEmpty { problems.append("no board: give --board or a board: line in \(file?.path ?? "--config")") }
        logLevel = flags.logLevel ?? file?.logLevel.flatMap(Logger.Level.init(rawValue:)) ?? .notice
        sendFrequency = try flags.sendFrequency.map(parseSendFrequency) ?? file?.sendFrequency
        stateDirectory = (flags.stateDir ?? ProcessInfo.processInfo.environment["FIELDAGENT_STATE_DIR"] ?? file?.stateDirectory)
            .map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
        route = file?.route
        var link = flags.link
        if let hub = file?.hub {
            if link.hub == nil, let host = hub.host { link.hub = hub.port.map { "\(host):\($0)" } ?? host }
            link.cert = link.cert ?? hub.cert
            link.key = link.key ?? hub.key
            link.ca = link.ca ?? hub.ca
            link.modelID = link.modelID ?? hub.modelID
            link.expectedHostName = link.expectedHostName ?? hub.expectedHostName
        }
        link.deviceID = link.deviceID ?? file?.deviceID
        let wantsHub = flags.sink == .hub || link.hub != nil
        if wantsHub {
            let missing = [("hub host (--hub or hub.host)", link.hub), ("--cert or hub.cert", link.cert),
                           ("--key or hub.key", link.key), ("--ca or hub.ca", link.ca)].filter { $0.1 == nil }.map(\.0)
            if !missing.isEmpty { problems.append("sending to a hub needs \(missing.joined(separator: ", "))") }
            if link.hub != nil {
                do { _ = try link.endpoint() } catch { problems.append("\(error)") }
            }
        }
        hub = wantsHub && flags.sink != .stdout ? link : nil
        guard problems.isEmpty else {
            throw ValidationError(problems.count == 1 ? problems[0] : "\(problems.count) problems:\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
    }
}

/// DESIGN.md §5: "30s", "5m", "1h" or ISO 8601, 1 s … 24 h.
func parseSendFrequency(_ text: String) throws -> Duration {
    let value: Duration
    do {
        value = try DurationText.parse(text)
    } catch {
        throw ValidationError("--send-frequency: \(error)")
    }
    guard value >= .seconds(1), value <= .seconds(86400) else {
        throw ValidationError("--send-frequency: \(text) is outside 1s…24h")
    }
    return value
}

/// Where the hub is and who this device is (issue 3). Flags override the board file's device id.
struct HubOptions: ParsableArguments {
    @Option(help: "The hub: HOST or HOST:PORT (IoT Hub, an IoT Edge gateway, LocalHub or an MQTT broker; port 8883 by default).")
    var hub: String?

    @Option(help: "Device id (default: the board file's device_id); must equal the certificate's CN.")
    var deviceID: String?

    @Option(help: "Device certificate chain (PEM, leaf first).")
    var cert: String?

    @Option(help: "Device private key (PEM, mode 0600).")
    var key: String?

    @Option(help: "Trust anchors for the hub: a PEM file or a folder (e.g. certs/trust/ for Azure).")
    var ca: String?

    @Option(help: "The DTDL model id announced at connect (IoT Plug and Play). Default: FieldAgent's (firmware-interface/).")
    var modelID: String?

    @Option(help: "The name the hub's certificate must carry, when it differs from --hub's host.")
    var expectedHostName: String?

    /// Every missing flag at once, and a readable port; the device id can come from the board file.
    func validateFlags() throws {
        let missing = [("--hub", hub), ("--cert", cert), ("--key", key), ("--ca", ca)].filter { $0.1 == nil }.map(\.0)
        guard missing.isEmpty else { throw ValidationError("sending to a hub needs \(missing.joined(separator: ", "))") }
        _ = try endpoint()
    }

    func endpoint() throws -> (host: String, port: UInt16) {
        let hub = self.hub ?? ""
        var host = hub
        var port: UInt16 = 8883
        if let colon = hub.lastIndex(of: ":"), !hub.hasSuffix("]") {
            guard let p = UInt16(hub[hub.index(after: colon)...]), p > 0 else {
                throw ValidationError("--hub: '\(hub)' has no valid port after ':'")
            }
            host = String(hub[..<colon])
            port = p
        }
        return (host, port)
    }

    func settings(defaultDeviceID: String) throws -> HubClient.Settings {
        try validateFlags()
        let (host, port) = try endpoint()
        var settings = HubClient.Settings(host: host, port: port, deviceID: deviceID ?? defaultDeviceID,
                                          certificateFile: cert ?? "", keyFile: key ?? "", trustAnchors: ca ?? "",
                                          modelID: modelID ?? FieldAgentModel.id)
        settings.expectedHostName = expectedHostName
        return settings
    }
}

/// The DTDL model this agent implements (firmware-interface/fieldagent.dtdl.json); announced as
/// `model-id` at connect so IoT Plug and Play tools know the telemetry, properties and commands.
enum FieldAgentModel {
    static let id = "dtmi:fieldagent:device:FieldAgent;1"
}

/// SIGINT/SIGTERM ask the agent to stop after the current sample (then it flushes and exits).
func stopOnSignals(_ stop: @escaping @Sendable () -> Void) -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { stop() }
        source.resume()
        return source
    }
}
