import TestSupport
import AgentRuntime
import Boards
import Configuration
import DeviceID
import Foundation
import HubClient
import IoTHub
import Testing

func parse(_ text: String, path: String) throws(ConfigIssues) -> AgentConfig {
    try AgentConfig.resolve([SettingLayer.yaml(text, path: path, known: AgentConfig.keys)])
}

/// `agent.yaml`, the environment and the flags: one key table, one layering rule, every problem at once.
@Suite struct AgentConfigTests {
    @Test func aCompleteFileIsReadWithPathsRelativeToIt() throws {
        let text = """
            board: ../boards/sim-factory-line.yaml
            device_id: factory-line-01
            state_dir: /var/lib/fieldagent
            send_frequency: PT1M
            route: predictor
            log_level: info
            hub: { host: localhost, port: 8883, cert: certs/dev.pem, key: certs/dev.key, ca: /etc/ca.pem, model_id: "dtmi:fieldagent:device:FieldAgent;1" }
            predictor: { socket: /run/fieldagent/predictor.sock, deadline: 50ms }
            outbox: { quota: 64MB, max_age: 7d, drain_rate: 50 }
            """
        let config = try parse(text, path: "/etc/fieldagent/agent.yaml")
        #expect(config.core.board == "/etc/fieldagent/../boards/sim-factory-line.yaml")
        #expect(config.link.deviceID == "factory-line-01")
        #expect(config.telemetry.sendFrequency == .seconds(60))
        #expect(config.alerts.route == .predictor)
        #expect(config.core.logLevel == .info)
        #expect(config.link.host == HubEndpoint(host: "localhost") && config.link.port == 8883)
        #expect(config.link.cert == "/etc/fieldagent/certs/dev.pem")
        #expect(config.link.ca == "/etc/ca.pem")
        #expect(config.alerts.predictorDeadline == .milliseconds(50))
        #expect(config.outbox.quotaBytes == 64 << 20)
        #expect(config.outbox.maximumAge == .seconds(7 * 86400))
        #expect(config.outbox.drainRate == 50)
    }

    @Test func everyProblemIsReportedAtOnceWithItsLine() {
        let text = """
            device_id: "bad id!"
            send_frequency: 100000h
            route: cloud
            hub: { host: localhost, port: 0, colour: red }
            outbox: { quota: lots, drain_rate: -1 }
            predictor: { deadline: 1h }
            """
        do {
            _ = try parse(text, path: "agent.yaml")
            Issue.record("expected problems")
        } catch {
            let fields = error.issues.map(\.field)
            // In line order; then what a hub host makes required.
            #expect(fields == ["device_id", "send_frequency", "route", "hub.colour", "hub.port", "outbox.quota", "outbox.drain_rate",
                               "predictor.deadline", "hub.cert", "hub.key", "hub.ca"], "\(error)")
            #expect(error.issues[0].file == "agent.yaml:1")
            #expect(error.issues[1].message.contains("out of range"))
            #expect(error.issues[3].message.contains("unknown field; expected one of host, port, cert, key, ca, model_id, expected_host_name"))
            #expect(error.issues[8].message.contains("--cert") && error.issues[8].message.contains("FIELDAGENT_HUB_CERT"))
        }
    }

    @Test func anEmptyFileIsAnEmptyConfiguration() throws {
        #expect(try parse("", path: "a.yaml") == AgentConfig())
    }

    @Test(arguments: [("512KB", 512 << 10), ("64MB", 64 << 20), ("1GB", 1 << 30), ("1.5M", 3 << 19), ("1048576", 1 << 20)])
    func byteSizes(text: String, bytes: Int) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test func flagsOverTheEnvironmentOverTheFileOverTheDefaults() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-config")
        let directory = folder.path
        let file = directory + "/agent.yaml"
        try "send_frequency: 1m\nroute: predictor\noutbox: { drain_rate: 7 }\n".write(toFile: file, atomically: true, encoding: .utf8)
        let environment = ["FIELDAGENT_SEND_FREQUENCY": "2m", "FIELDAGENT_ROUTE": "hub", "PATH": "/bin"]
        let flags = [(flag: "--send-frequency", text: "3m")]

        #expect(try AgentConfig.load(file: nil, environment: [:]).telemetry.sendFrequency == nil)
        #expect(try AgentConfig.load(file: nil, environment: [:]).outbox.drainRate == 50)
        #expect(try AgentConfig.load(file: file, environment: [:]).telemetry.sendFrequency == .seconds(60))
        #expect(try AgentConfig.load(file: file, environment: environment).telemetry.sendFrequency == .seconds(120))
        let all = try AgentConfig.load(file: file, environment: environment, flags: flags)
        #expect(all.telemetry.sendFrequency == .seconds(180))
        #expect(all.alerts.route == .hub, "the environment over the file")
        #expect(all.outbox.drainRate == 7, "the file over the default")
    }

    @Test func eachProblemNamesWhereItsValueCameFrom() {
        do {
            _ = try AgentConfig.resolve([
                SettingLayer.yaml("outbox:\n  quota: 1KB\n", path: "agent.yaml", known: AgentConfig.keys),
                .environment(["FIELDAGENT_HUB_PORT": "99999"], known: AgentConfig.keys),
                .flags([(flag: "--predictor-deadline", text: "soon")], known: AgentConfig.keys),
            ], required: [Requirement("board", "run samples a board")])
            Issue.record("expected problems")
        } catch {
            #expect(error.issues.map(\.file) == ["agent.yaml:2", "FIELDAGENT_HUB_PORT", "--predictor-deadline", "settings"], "\(error)")
            #expect(error.issues.map(\.field) == ["outbox.quota", "hub.port", "predictor.deadline", "board"])
        }
    }

    @Test func pathsAreRelativeToTheFileAndTheStateDirectoryIsAbsolute() throws {
        let fromFile = try parse("board: b.yaml\nstate_dir: state\nhub: { host: h, cert: c.pem, key: k.pem, ca: /ca.pem }\n", path: "/etc/fa/agent.yaml")
        #expect(fromFile.core.board == "/etc/fa/b.yaml")
        #expect(fromFile.core.stateDirectory == "/etc/fa/state")
        #expect(fromFile.link.cert == "/etc/fa/c.pem" && fromFile.link.ca == "/ca.pem")
        let fromFlags = try AgentConfig.load(file: nil, environment: [:], flags: [("--board", "boards/x.yaml"), ("--state-dir", "state")])
        #expect(fromFlags.core.board == "boards/x.yaml", "relative to the working directory")
        #expect(fromFlags.core.stateDirectory == FileManager.default.currentDirectoryPath + "/state")
    }

    @Test func aPortInTheHostWinsAndAHubNeedsItsCertificates() throws {
        let config = try parse("hub: { host: \"h:9000\", port: 8884, cert: c, key: k, ca: a }\n", path: "a.yaml")
        #expect(config.link.clientSettings(defaultDeviceID: "d")?.port == 9000)
        #expect(try parse("hub: { host: h, port: 8884, cert: c, key: k, ca: a }\n", path: "a.yaml").link.clientSettings(defaultDeviceID: "d")?.port == 8884)
        #expect(try parse("hub: { host: h, cert: c, key: k, ca: a }\n", path: "a.yaml").link.clientSettings(defaultDeviceID: "d")?.port == 8883)
        #expect(try parse("", path: "a.yaml").link.clientSettings(defaultDeviceID: "d") == nil)
        #expect(throws: ConfigIssues.self) { try parse("hub: { host: h }\n", path: "a.yaml") }
        #expect(throws: ConfigIssues.self) { try parse("hub: { host: \"h:0\", cert: c, key: k, ca: a }\n", path: "a.yaml") }
    }
}

/// IoT Hub's device-id rule, one for agent.yaml, board files and topics alike.
@Suite struct DeviceIDRuleTests {
    static let ids = ["factory-line-01", "pump!(7)@hall=$'x'", "a:b.c%d_e*f?g,h", "dev#1", "a+b", "bad id", "a/b", "pump-é1", "",
                      String(repeating: "a", count: 128), String(repeating: "a", count: 129)]

    @Test(arguments: ids)
    func everyPlaceAgrees(id: String) throws {
        let valid = DeviceIDRule.isValid(id)
        let quoted = "'" + id.replacingOccurrences(of: "'", with: "''") + "'"
        let inConfig = (try? parse("device_id: \(quoted)\n", path: "a.yaml")) != nil
        let boardText = try String(contentsOfFile: repositoryPath("boards/sim-factory-line.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "device_id: factory-line-01", with: "device_id: \(quoted)")
        let inBoard = (try? BoardFile.parse(boardText, path: repositoryPath("boards/x.yaml"))) != nil
        let inTopic = (try? IoTHubTopic.telemetry(deviceID: id, properties: IoTHubMessageProperties())) != nil
        #expect(inConfig == valid && inBoard == valid && inTopic == valid, "\(id): rule \(valid), config \(inConfig), board \(inBoard), topic \(inTopic)")
    }

    @Test func theRuleIsIoTHubsWithoutTheMQTTWildcards() {
        #expect(DeviceIDRule.isValid("a-.%_*?!(),:=@$'Z9"))
        #expect(DeviceIDRule.problem("dev#1")?.contains("MQTT wildcards") == true)
        #expect(DeviceIDRule.problem("a+b")?.contains("MQTT wildcards") == true)
        #expect(DeviceIDRule.problem(String(repeating: "a", count: 129)) == "129 characters, at most 128")
    }
}

/// `hub.host` as `wss://HOST[:PORT][/PATH]`: MQTT over WebSockets (issue 17 item 5).
@Suite struct WebSocketHubAddressTests {
    func settings(_ host: String, port: String? = nil) throws -> (HubEndpoint?, HubClientSettingsView?) {
        let text = "hub: { host: \"\(host)\", \(port.map { "port: \($0), " } ?? "")cert: /c.pem, key: /k.key, ca: /ca.pem }\ndevice_id: d1\n"
        let config = try parse(text, path: "/etc/agent.yaml")
        return (config.link.host, config.link.clientSettings(defaultDeviceID: "d1").map {
            HubClientSettingsView(host: $0.host, port: $0.port, path: $0.webSocketPath)
        })
    }

    @Test("wss:// selects WebSockets on 443 and /$iothub/websocket unless a port or path is given; hub.port is for MQTT over TLS")
    func addresses() throws {
        #expect(try settings("wss://myhub.azure-devices.net").1 == .init(host: "myhub.azure-devices.net", port: 443, path: "/$iothub/websocket"))
        #expect(try settings("wss://myhub.azure-devices.net", port: "8883").1?.port == 443)
        #expect(try settings("wss://127.0.0.1:8443/").1 == .init(host: "127.0.0.1", port: 8443, path: "/$iothub/websocket"))
        #expect(try settings("wss://broker.local:9001/mqtt").1 == .init(host: "broker.local", port: 9001, path: "/mqtt"))
        #expect(try settings("myhub.azure-devices.net").1 == .init(host: "myhub.azure-devices.net", port: 8883, path: nil))
        for bad in ["wss://", "https://myhub", "mqtts://myhub:8883", "wss://host:0"] {
            #expect(throws: ConfigIssues.self, "\(bad)") { try settings(bad) }
        }
    }
}

struct HubClientSettingsView: Equatable {
    var host: String
    var port: UInt16
    var path: String?
}

@Suite struct ShippedConfigTests {
    /// The example in deploy/ (what fieldagent.service reads) is a valid agent.yaml.
    @Test func theDeployExampleParses() throws {
        let config = try AgentConfig.load(file: "\(repositoryRoot)/deploy/agent.yaml", environment: [:])
        #expect(config.alerts.route == .predictor)
        #expect(config.link.host?.host == "myhub.azure-devices.net")
        #expect(config.alerts.predictorSocket == "/run/fieldagent/predictor.sock")
        #expect(config.core.board == "/etc/fieldagent/board.yaml")
    }

    /// docs/configuration.md lists every key exactly as the code declares it. With UPDATE_DOCS=1
    /// the table is rewritten from the code instead (review the diff).
    @Test func theConfigurationDocumentListsEveryKeyAsTheCodeDoes() throws {
        let path = repositoryPath("docs/configuration.md")
        let expected = AgentConfig.keys.map { key in
            [key.path, key.environmentVariable, key.flag ?? "—", key.type, key.defaultText, key.range.isEmpty ? "—" : key.range, key.summary]
        }
        if ProcessInfo.processInfo.environment["UPDATE_DOCS"] == "1" {
            try rewriteKeyTable(path, rows: expected)
            return
        }
        let table = try markdownTable(in: path, after: "## Keys")
        #expect(table.header == ["YAML path", "environment", "flag", "type", "default", "range", "what it does"])
        #expect(table.rows.map(\.first) == expected.map(\.first), "the document's keys differ from AgentConfig.keys")
        for (row, want) in zip(table.rows, expected) {
            #expect(row == want, "docs/configuration.md row \(want[0])")
        }
    }

    func rewriteKeyTable(_ path: String, rows: [[String]]) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let heading = lines.firstIndex(of: "## Keys"), let start = lines[heading...].firstIndex(where: { $0.hasPrefix("|") }) else { return }
        let end = lines[start...].firstIndex { !$0.hasPrefix("|") } ?? lines.endIndex
        func code(_ cell: String) -> String { cell == "—" ? cell : "`\(cell)`" }
        let table = ["| YAML path | environment | flag | type | default | range | what it does |", "| --- | --- | --- | --- | --- | --- | --- |"]
            + rows.map { "| \(code($0[0])) | \(code($0[1])) | \(code($0[2])) | \($0[3...].joined(separator: " | ")) |" }
        lines.replaceSubrange(start..<end, with: table)
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }
}
