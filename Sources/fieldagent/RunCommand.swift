import AgentRuntime
import ArgumentParser
import Boards
import Configuration
import Foundation
import HubClient
import IoTHub

extension FieldAgent {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the agent: sample the board and send one telemetry message per send period.")

        enum Sink: String, ExpressibleByArgument, CaseIterable {
            case stdout
            case hub
        }

        @OptionGroup var options: BoardOptions

        @Option(help: "Where telemetry goes: \(Sink.allCases.map(\.rawValue).joined(separator: ", ")).")
        var sink: Sink = .stdout

        @Option(help: "How often a message is sent: 30s, 5m, 1h or ISO 8601 (PT30S); 1 s … 24 h. Default: the board file's.")
        var sendFrequency: String?

        @Option(help: "Stop after this many messages.")
        var count: Int?

        @OptionGroup var link: HubOptions

        func validate() throws {
            if let sendFrequency { _ = try parseSendFrequency(sendFrequency) }
            if let count, count < 1 { throw ValidationError("--count must be at least 1") }
            if sink == .hub || link.hub != nil { try link.validateFlags() }
        }

        func run() async throws {
            let logger = bootstrapLogging(options.logLevel)
            let board = try openBoard(options)
            let frequency = try sendFrequency.map(parseSendFrequency) ?? board.file.sampling.sendFrequency
            let loop = TelemetryLoop(sendFrequency: frequency, interval: board.file.sampling.interval, count: count)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            logger.notice("sampling \(board.file.name) every \(DurationText.format(loop.interval)), sending every \(DurationText.format(frequency))")
            guard sink == .hub || link.hub != nil else {
                loop.run(board: board, logger: logger) { message in
                    if let data = try? encoder.encode(message) {
                        writeLine(String(decoding: data, as: UTF8.self))
                    }
                }
                return
            }
            let client = HubClient(settings: try link.settings(defaultDeviceID: board.file.deviceID), logger: logger)
            client.start()
            loop.run(board: board, logger: logger) { message in
                guard let data = try? encoder.encode(message) else { return }
                // $.mid = device id + sequence number, so the hub side can drop duplicates.
                let properties = IoTHubMessageProperties(messageID: "\(message.deviceId)-\(message.seq)",
                                                         contentType: "application/json", contentEncoding: "utf-8")
                do {
                    try client.send(Array(data), properties: properties)
                } catch {
                    logger.error("telemetry not queued: \(error)")
                }
            }
            let flushed = client.flush(timeout: .seconds(30))
            client.stop()
            if !flushed {
                printError("fieldagent: \(client.unacknowledged) message(s) not acknowledged by the hub: \(client.lastError ?? "no answer")")
                throw Exit.failed
            }
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

    @Option(help: "The DTDL model id announced at connect (IoT Plug and Play).")
    var modelID: String?

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
        return HubClient.Settings(host: host, port: port, deviceID: deviceID ?? defaultDeviceID,
                                  certificateFile: cert ?? "", keyFile: key ?? "", trustAnchors: ca ?? "", modelID: modelID)
    }
}
