import CLISupport
import ArgumentParser
import Configuration
import Foundation
import JSON
import LocalHub
import Logging

/// `localhub …`: run LocalHub and drive it through its admin socket (issue 5). A development
/// tool: it runs next to the agent on a laptop or in CI, never on the device.
@main
struct LocalHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "localhub",
        abstract: "LocalHub: FieldAgent's IoT Hub emulator on 127.0.0.1 (development, demos, tests).",
        discussion: """
            'serve' runs the hub; the other commands talk to a running hub through the Unix socket \
            STATE-DIR/admin.sock (mode 0600, never on the device port). See docs/localhub.md. \
            Exit codes: 0 success, 1 a method answered a non-2xx status, 2 the command failed, 64 usage error.
            """,
        version: "0.1.0",
        subcommands: [Serve.self, Device.self, Twin.self, Method.self, CloudToDevice.self, Tail.self, Watch.self, Dps.self])

    /// The state folder every hub command shares.
    struct StateOptions: ParsableArguments {
        @Option(name: .customLong("state-dir"), help: "LocalHub's state folder (registry, twins, telemetry, admin socket).")
        var stateDirectory = "localhub"

        var client: AdminClient { AdminClient(stateDirectory: stateDirectory) }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run LocalHub: MQTT 3.1.1 over mutual TLS on 127.0.0.1 until Ctrl-C.")

        @OptionGroup var state: StateOptions

        @Option(help: "Device port on 127.0.0.1 (8883 as IoT Hub; 0 = any free port).")
        var port = 8883

        @Option(name: .customLong("ws-port"), help: "Also serve MQTT over WebSockets on TLS on this port of 127.0.0.1 (path /$iothub/websocket, subprotocol mqtt; 443 as IoT Hub; 0 = any free port). Default: none.")
        var webSocketPort: Int?

        @Option(help: "Server certificate (PEM, leaf then intermediates). Default: a dev PKI in STATE-DIR/pki.")
        var cert: String?

        @Option(help: "Server private key (PEM).")
        var key: String?

        @Option(help: "A CA certificate (PEM) to register for CA-signed devices; repeat for several.")
        var ca: [String] = []

        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        @Option(help: "Emulate an IoT Hub tier's device-to-cloud throttle and daily quota: S1, S2 or S3 (default: none).")
        var tier: String?

        @Option(help: "Units of --tier (the throttle and the quota scale with them).")
        var units = 1

        @Option(help: "The IoT hub name device user names must carry ({hub}/{device}/?api-version=…), e.g. standing in for an IoT Edge gateway in front of that hub (default: any).")
        var hubName: String?

        @Option(name: .customLong("dps-port"), help: "Also serve a Device Provisioning Service endpoint (MQTT over TLS, X.509) on this port of 127.0.0.1 (0 = any free port). Default: none.")
        var dpsPort: Int?

        @Option(name: .customLong("dps-ws-port"), help: "Also serve DPS over WebSockets on TLS (wss://127.0.0.1:PORT/$iothub/websocket, as Azure DPS on 443) on this port (0 = any free port); with --dps-port. Default: none.")
        var dpsWebSocketPort: Int?

        @Option(name: .customLong("id-scope"), help: "The DPS id scope devices must name.")
        var idScope = DpsConfiguration().idScope

        @Option(name: .customLong("dps-issuing-ca"), help: "CA certificate (PEM) that signs devices' CSRs (certificate issuance); with --dps-issuing-key.")
        var dpsIssuingCA: String?

        @Option(name: .customLong("dps-issuing-key"), help: "The issuing CA's private key (PEM, mode 0600).")
        var dpsIssuingKey: String?

        @Option(name: .customLong("dps-certificate-validity"), help: "How long issued certificates are valid, e.g. 30d.")
        var dpsCertificateValidity = "30d"

        static let tiers: [String: IoTHubTier] = ["S1": .s1, "S2": .s2, "S3": .s3]

        func parsedValidity() throws -> Duration {
            do { return try DurationText.parse(dpsCertificateValidity) } catch {
                throw ValidationError("--dps-certificate-validity: \(error)")
            }
        }

        func validate() throws {
            guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0…65535, got \(port)") }
            if let webSocketPort, !(0...65_535).contains(webSocketPort) {
                throw ValidationError("--ws-port must be 0…65535, got \(webSocketPort)")
            }
            if let tier, Self.tiers[tier.uppercased()] == nil { throw ValidationError("--tier must be S1, S2 or S3, got \(tier)") }
            guard (1...200).contains(units) else { throw ValidationError("--units must be 1…200, got \(units)") }
            if (cert == nil) != (key == nil) { throw ValidationError("give both --cert and --key, or neither") }
            if let dpsPort, !(0...65_535).contains(dpsPort) { throw ValidationError("--dps-port must be 0…65535, got \(dpsPort)") }
            if (dpsIssuingCA == nil) != (dpsIssuingKey == nil) {
                throw ValidationError("give both --dps-issuing-ca and --dps-issuing-key, or neither")
            }
            if dpsPort == nil, dpsIssuingCA != nil { throw ValidationError("--dps-issuing-ca goes with --dps-port") }
            if let dpsWebSocketPort, !(0...65_535).contains(dpsWebSocketPort) {
                throw ValidationError("--dps-ws-port must be 0…65535, got \(dpsWebSocketPort)")
            }
            if dpsPort == nil, dpsWebSocketPort != nil { throw ValidationError("--dps-ws-port goes with --dps-port") }
            let validity = try parsedValidity()
            guard validity >= .seconds(60), validity <= .seconds(3650 * 86_400) else {
                throw ValidationError("--dps-certificate-validity must be 1m…3650d, got \(dpsCertificateValidity)")
            }
        }

        func run() async throws {
            let logger = bootstrapLogging(logLevel, label: "localhub")
            var configuration = LocalHubServer.Configuration(stateDirectory: state.stateDirectory, port: port, logger: logger)
            configuration.webSocketPort = webSocketPort
            configuration.serverCertificateFile = cert
            configuration.serverKeyFile = key
            configuration.certificateAuthorityFiles = ca
            configuration.tier = tier.flatMap { Self.tiers[$0.uppercased()] }
            configuration.units = units
            configuration.hubName = hubName
            if let dpsPort {
                var dps = DpsConfiguration()
                dps.port = dpsPort
                dps.webSocketPort = dpsWebSocketPort
                dps.idScope = idScope
                dps.issuingCertificateFile = dpsIssuingCA
                dps.issuingKeyFile = dpsIssuingKey
                dps.certificateValidity = try parsedValidity()
                configuration.dps = dps
            }
            let server: LocalHubServer
            let bound: UInt16
            do {
                server = try LocalHubServer(configuration)
                bound = try await server.start()
            } catch {
                printError("localhub serve: \(error)")
                throw Exit.failed
            }
            if let dps = server.dpsPort {
                writeLine(LocalHubServer.dpsStartupLine(port: dps, idScope: idScope, hub: server.assignedHubName))
            }
            if let ws = server.webSocketPort { writeLine("LocalHub serving MQTT over WebSockets on wss://127.0.0.1:\(ws)/$iothub/websocket") }
            if let ws = server.dpsWebSocketPort { writeLine("LocalHub DPS over WebSockets on wss://127.0.0.1:\(ws)/$iothub/websocket") }
            writeLine("LocalHub listening on 127.0.0.1:\(bound); admin socket \(configuration.adminSocketPath); Ctrl-C stops it")
            await waitForTermination()
            await server.stop()
        }
    }

    struct Device: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register and list devices.",
                                                        subcommands: [Add.self, List.self])

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Register a device by certificate thumbprint (selfSigned) or CA (certificateAuthority, CN = device id).")

            @OptionGroup var state: StateOptions

            @Argument(help: "Device id (the certificate's CN for CA-signed devices).")
            var id: String

            @Option(help: "SHA-1 (40 hex) or SHA-256 (64 hex) thumbprint of the device certificate.")
            var thumbprint: String?

            @Option(help: "A second thumbprint, for rolling certificates.")
            var secondaryThumbprint: String?

            @Option(help: "The CA certificate (PEM, the root or a chain ending in it) that issues this device's certificate.")
            var ca: String?

            func validate() throws {
                if (thumbprint == nil) == (ca == nil) { throw ValidationError("give exactly one of --thumbprint or --ca") }
                if secondaryThumbprint != nil, thumbprint == nil {
                    throw ValidationError("--secondary-thumbprint goes with --thumbprint")
                }
            }

            func run() async throws {
                var request = AdminRequest(op: "device.add", deviceId: id)
                request.thumbprint = thumbprint
                request.secondaryThumbprint = secondaryThumbprint
                if let ca {
                    guard let pem = FileManager.default.contents(atPath: ca) else {
                        printError("localhub device add: cannot read the CA file \(ca)")
                        throw Exit.failed
                    }
                    request.caPEM = String(decoding: pem, as: UTF8.self)
                }
                let result = try admin(state.client, request)
                writeLine("registered \(id) (\(result.field("authentication") ?? "?"))")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List registered devices and whether each is connected.")

            @OptionGroup var state: StateOptions

            func run() async throws {
                let result = try admin(state.client, AdminRequest(op: "device.list"))
                guard case .array(let devices) = result else { return }
                // THUMBPRINT is the registered one (self-signed devices); LAST CERTIFICATE the SHA-256
                // thumbprint the device last connected with (this run), which changes when it rotates.
                writeLine("DEVICE                AUTHENTICATION        CONNECTED  THUMBPRINT  LAST CERTIFICATE")
                for device in devices {
                    let id = device.field("deviceId") ?? "?"
                    let auth = device.field("authentication") ?? "?"
                    let connected = device.objectValue?["connected"] == .bool(true) ? "yes" : "no"
                    let print = device.field("primaryThumbprint") ?? "-"
                    writeLine(id.padding(toLength: 22, withPad: " ", startingAt: 0)
                        + auth.padding(toLength: 22, withPad: " ", startingAt: 0)
                        + connected.padding(toLength: 11, withPad: " ", startingAt: 0) + print
                        + "  " + (device.field("connectedThumbprint") ?? "-"))
                }
            }
        }
    }

    struct Twin: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a twin or change its desired properties.",
                                                        subcommands: [Show.self, SetCommand.self])

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print the twin as the device sees it (desired and reported, with $version).")

            @OptionGroup var state: StateOptions

            @Argument(help: "Device id.")
            var id: String

            func run() async throws {
                writeLine(pretty(try admin(state.client, AdminRequest(op: "twin.show", deviceId: id))))
            }
        }

        struct SetCommand: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "set",
                abstract: "Merge desired properties (pushed to the device if connected).",
                discussion: "Each value is a JSON literal when it parses (5, true, null, {\"a\":1}), else a string: sendFrequency=5s sets \"5s\"; key=null deletes the key.")

            @OptionGroup var state: StateOptions

            @Argument(help: "Device id.")
            var id: String

            @Argument(help: "key=value pairs.")
            var assignments: [String]

            func validate() throws {
                if assignments.isEmpty { throw ValidationError("give at least one key=value") }
                if let bad = assignments.first(where: { !$0.contains("=") || $0.hasPrefix("=") }) {
                    throw ValidationError("'\(bad)' is not key=value")
                }
            }

            func run() async throws {
                var patch: [String: JSONValue] = [:]
                for assignment in assignments {
                    let parts = assignment.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    patch[String(parts[0])] = JSONValue.fromCommandLine(parts.count > 1 ? String(parts[1]) : "")
                }
                var request = AdminRequest(op: "twin.set", deviceId: id)
                request.patch = .object(patch)
                let result = try admin(state.client, request)
                writeLine("desired properties of \(id) now at $version \(result.field("$version") ?? "?")")
            }
        }
    }

    struct Method: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Invoke a direct method and print the device's status and payload.",
            discussion: "Exit codes: 0 the device answered 2xx; 1 it answered another status; 2 the hub answered 404 (device offline or not subscribed) or 504 (no answer in time), or the hub is not running.")

        @OptionGroup var state: StateOptions

        @Argument(help: "Device id.")
        var id: String

        @Argument(help: "Method name (e.g. getHealth).")
        var name: String

        @Option(help: "Request payload as JSON (default: null).")
        var payload: String?

        @Option(help: "How long to wait for the device: 5s … 300s (IoT Hub's range), e.g. 30s.")
        var timeout = "30s"

        func validate() throws {
            let duration = try parsedTimeout()
            guard duration >= .seconds(1), duration <= .seconds(300) else {
                throw ValidationError("--timeout must be 1s…300s, got \(timeout)")
            }
            if let payload, (try? JSONValue.parse(payload)) == nil {
                throw ValidationError("--payload is not valid JSON: \(payload)")
            }
        }

        func parsedTimeout() throws -> Duration {
            do { return try DurationText.parse(timeout) } catch { throw ValidationError("--timeout: \(error)") }
        }

        func run() async throws {
            var request = AdminRequest(op: "method", deviceId: id)
            request.method = name
            request.payload = try payload.map { try JSONValue.parse($0) } ?? .null
            let seconds = try parsedTimeout()
            request.timeoutSeconds = Double(seconds.components.seconds) + Double(seconds.components.attoseconds) / 1e18
            let result = try admin(state.client, request)
            let status = Int(result.field("status") ?? "") ?? 0
            writeLine("status \(status)")
            writeLine(pretty(result.objectValue?["payload"] ?? .null))
            if status == 404 || status == 504 { throw Exit.failed }
            if !(200..<300).contains(status) { throw Exit.degraded }
        }
    }

    struct CloudToDevice: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "c2d",
            abstract: "Send a cloud-to-device message, or show a device's C2D queue.",
            discussion: """
                With a payload the message is queued for the device and delivered at once when it is connected \
                and subscribed; a delivered message stays locked until the device's PUBACK and is delivered again \
                when the lock (1 min) runs out or the connection drops, at most 10 times, then dead-lettered. \
                Either way it prints the device's queued, locked, completed, dead-lettered and expired counts and \
                each waiting message. Exit 2 when 50 already wait (403004) or the hub is not running.
                """)

        @OptionGroup var state: StateOptions

        @Argument(help: "Device id.")
        var id: String

        @Argument(help: "Message body, as text (e.g. '{\"command\":\"identify\",\"seconds\":5}'); none: only show the queue.")
        var payload: String?

        @Option(name: .customLong("property"), help: "An application property name=value; repeat for several.")
        var properties: [String] = []

        func validate() throws {
            if let bad = properties.first(where: { !$0.contains("=") || $0.hasPrefix("=") }) {
                throw ValidationError("--property '\(bad)' is not name=value")
            }
            if payload == nil, !properties.isEmpty { throw ValidationError("--property goes with a payload") }
        }

        func run() async throws {
            if let payload {
                var request = AdminRequest(op: "c2d", deviceId: id)
                request.payload = .string(payload)
                request.properties = Dictionary(properties.map { property in
                    let parts = property.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
                }, uniquingKeysWith: { _, last in last })
                let sent = try admin(state.client, request)
                writeLine(sent["delivered"] == .bool(true) ? "delivered to \(id)" : "queued for \(id) (offline or not subscribed)")
            }
            let status = try admin(state.client, AdminRequest(op: "c2d.status", deviceId: id))
            writeLine(["queued", "locked", "completed", "deadLettered", "expired"]
                .map { "\($0) \(status.field($0) ?? "?")" }.joined(separator: ", "))
            if case .array(let messages)? = status["messages"] {
                for message in messages {
                    let held = message["locked"] == .bool(true) ? "locked" : "queued"
                    writeLine("  message \(message.field("id") ?? "?"): \(held), \(message.field("deliveries") ?? "?") "
                        + "delivery(ies), expires \(message.field("expires") ?? "?")")
                }
            }
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print telemetry as it arrives (one JSON line per message) until Ctrl-C.")

        @OptionGroup var state: StateOptions

        @Argument(help: "Only this device (default: all).")
        var id: String?

        func run() async throws {
            do {
                try state.client.tail(deviceID: id) { record in
                    writeLine(record.jsonLine())
                    return true
                }
            } catch {
                printError("localhub tail: \(error)")
                throw Exit.failed
            }
        }
    }
}

/// `localhub dps …`: the DPS endpoint's enrollments and registrations, through the admin socket.
struct Dps: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the DPS endpoint's enrollments (serve --dps-port) and list its registrations.",
        discussion: "Enrollments are kept in STATE-DIR/dps.json. An individual enrollment (add-device) beats a group (add-group); a disabled one is refused (403).",
        subcommands: [AddGroup.self, AddDevice.self, List.self, Remove.self, Disable.self, Enable.self, Registrations.self])

    static func read(_ path: String, what: String) throws -> String {
        guard let bytes = FileManager.default.contents(atPath: path) else {
            printError("localhub dps: cannot read the \(what) \(path)")
            throw Exit.failed
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func line(_ enrollment: JSONValue) -> String {
        let state = enrollment["enabled"] == .bool(false) ? "disabled" : "enabled"
        let device = if case .string(let id)? = enrollment["deviceId"] { " → device \(id)" } else { "" }
        return "\(enrollment.field("kind") ?? "?") \(enrollment.field("name") ?? "?") (\(enrollment.field("subject") ?? "?"), "
            + "\(state))\(device)"
    }

    struct AddGroup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-group",
            abstract: "Enroll a group: devices whose certificate chain verifies up to this CA (root or intermediate).")
        @OptionGroup var state: LocalHubCommand.StateOptions
        @Argument(help: "The group's name.") var name: String
        @Option(help: "The group's CA certificate (PEM).") var ca: String
        @Flag(help: "Enroll it disabled (its devices are refused, 403).") var disabled = false

        func run() async throws {
            var request = AdminRequest(op: "dps.add-group")
            request.name = name
            request.caPEM = try Dps.read(ca, what: "CA file")
            request.enabled = !disabled
            writeLine("enrolled " + Dps.line(try admin(state.client, request)))
        }
    }

    struct AddDevice: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-device",
            abstract: "Enroll one device by its certificate (matched by SHA-256 thumbprint).")
        @OptionGroup var state: LocalHubCommand.StateOptions
        @Argument(help: "Its registration id (the certificate's CN).") var registrationID: String
        @Option(help: "The device's certificate (PEM, the leaf first).") var cert: String
        @Option(name: .customLong("device-id"), help: "Its device id at the hub (default: the registration id).") var deviceID: String?
        @Flag(help: "Enroll it disabled (the device is refused, 403).") var disabled = false

        func run() async throws {
            var request = AdminRequest(op: "dps.add-device", deviceId: deviceID)
            request.name = registrationID
            request.certificatePEM = try Dps.read(cert, what: "certificate")
            request.enabled = !disabled
            writeLine("enrolled " + Dps.line(try admin(state.client, request)))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the enrollments.")
        @OptionGroup var state: LocalHubCommand.StateOptions

        func run() async throws {
            guard case .array(let items) = try admin(state.client, AdminRequest(op: "dps.list")) else { return }
            if items.isEmpty { writeLine("no enrollments; add one: localhub dps add-group NAME --ca CA.pem") }
            for item in items { writeLine(Dps.line(item)) }
        }
    }

    /// `remove`, `disable` and `enable`: one enrollment by name.
    struct NamedOptions: ParsableArguments {
        @OptionGroup var state: LocalHubCommand.StateOptions
        @Argument(help: "A group's name or an individual enrollment's registration id.") var name: String

        func send(_ op: String) throws -> JSONValue {
            var request = AdminRequest(op: op)
            request.name = name
            return try admin(state.client, request)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an enrollment.")
        @OptionGroup var options: NamedOptions
        func run() async throws {
            _ = try options.send("dps.remove")
            writeLine("removed \(options.name)")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable an enrollment (its devices are refused, 403).")
        @OptionGroup var options: NamedOptions
        func run() async throws { writeLine(Dps.line(try options.send("dps.disable"))) }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable an enrollment.")
        @OptionGroup var options: NamedOptions
        func run() async throws { writeLine(Dps.line(try options.send("dps.enable"))) }
    }

    struct Registrations: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the devices DPS assigned.")
        @OptionGroup var state: LocalHubCommand.StateOptions

        func run() async throws {
            guard case .array(let items) = try admin(state.client, AdminRequest(op: "dps.registrations")) else { return }
            writeLine("REGISTRATION          DEVICE                HUB          ISSUED  AT")
            for item in items {
                writeLine((item.field("registrationId") ?? "?").padding(toLength: 22, withPad: " ", startingAt: 0)
                    + (item.field("deviceId") ?? "?").padding(toLength: 22, withPad: " ", startingAt: 0)
                    + (item.field("assignedHub") ?? "?").padding(toLength: 13, withPad: " ", startingAt: 0)
                    + (item["issuedThumbprint"] == .null ? "no" : "yes").padding(toLength: 8, withPad: " ", startingAt: 0)
                    + (item.field("at") ?? "?"))
            }
        }
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Alert when fewer than N devices are connected or a connected device has gone silent.",
        discussion: """
            A device is silent when it has sent nothing for longer than --silent-factor × the period \
            it reported (sendFrequency; heartbeatInterval when its upstream is alerts-only; 30s when \
            it reported none). Prints each problem as it starts and 'ok' when all clear. With --once: \
            checks once, exit 0 all clear, 1 a problem, 2 the hub is not running.
            """)

    @OptionGroup var state: LocalHubCommand.StateOptions

    @Option(help: "Fewer connected devices than this is a problem (the recipe's ConnectedDeviceCount < 2).")
    var minDevices: Int

    @Option(help: "Silent longer than this many periods is a problem.")
    var silentFactor: Double = 3

    @Flag(help: "Check once and exit (for scripts and CI).")
    var once = false

    @Option(help: "How often to check when not --once, e.g. 5s.")
    var interval = "5s"

    func validate() throws {
        guard minDevices >= 0 else { throw ValidationError("--min-devices must be 0 or more, got \(minDevices)") }
        guard silentFactor >= 1, silentFactor <= 1000 else { throw ValidationError("--silent-factor must be 1…1000, got \(silentFactor)") }
        let every = try parsedInterval()
        guard every >= .milliseconds(100), every <= .seconds(3600) else { throw ValidationError("--interval must be 100ms…1h, got \(interval)") }
    }

    func parsedInterval() throws -> Duration {
        do { return try DurationText.parse(interval) } catch { throw ValidationError("--interval: \(error)") }
    }

    func problems() throws -> [FleetWatch.Problem] {
        let answer = try admin(state.client, AdminRequest(op: "liveness"))
        guard case .array(let items) = answer else {
            printError("localhub watch: LocalHub answered liveness with \(answer.description.prefix(80))")
            throw Exit.failed
        }
        return FleetWatch.problems(items.compactMap(FleetWatch.Device.init(json:)),
                                   rules: FleetWatch.Rules(minimumDevices: minDevices, silentFactor: silentFactor))
    }

    func run() async throws {
        if once {
            let found = try problems()
            if found.isEmpty { writeLine("ok: at least \(minDevices) connected, none silent") }
            for problem in found { writeLine("ALERT \(problem)") }
            if !found.isEmpty { throw Exit.degraded }
            return
        }
        let every = try parsedInterval()
        // Each problem is printed when it starts, "ok" when the last one ends.
        var previous: Set<String>? = nil
        while !Task.isCancelled {
            let found = try problems()
            let subjects = Set(found.map(\.subject))
            for problem in found where !(previous ?? []).contains(problem.subject) { writeLine("ALERT \(problem)") }
            if subjects.isEmpty, previous != [] { writeLine("ok: at least \(minDevices) connected, none silent") }
            previous = subjects
            try await Task.sleep(for: every)
        }
    }
}

/// Sends one admin request; prints the hub's error (or that it is not running) and exits 2.
private func admin(_ client: AdminClient, _ request: AdminRequest) throws -> JSONValue {
    do {
        return try client.send(request)
    } catch {
        printError("localhub: \(error)")
        throw Exit.failed
    }
}

private func pretty(_ value: JSONValue) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? value.description
}

extension JSONValue {
    /// A member as display text (strings unquoted).
    fileprivate func field(_ name: String) -> String? {
        switch objectValue?[name] {
        case .string(let text)?: text
        case .integer(let number)?: String(number)
        case .some(let other): other.description
        case nil: nil
        }
    }
}

/// Returns on SIGINT or SIGTERM.
private func waitForTermination() async {
    signal(SIGINT, SIG_IGN)
    signal(SIGTERM, SIG_IGN)
    let (stream, continuation) = AsyncStream<Int32>.makeStream()
    let sources = [SIGINT, SIGTERM].map { number in
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { continuation.yield(number) }
        source.resume()
        return source
    }
    for await _ in stream { break }
    sources.forEach { $0.cancel() }
}
