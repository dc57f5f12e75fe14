import TestSupport
import Configuration
import Testing

/// `agent.yaml` (issue 3, item 7): the same settings as the flags; every problem at once.
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
        let config = try AgentConfig.parse(text, path: "/etc/fieldagent/agent.yaml")
        #expect(config.board == "/etc/fieldagent/../boards/sim-factory-line.yaml")
        #expect(config.deviceID == "factory-line-01")
        #expect(config.sendFrequency == .seconds(60))
        #expect(config.route == .predictor)
        #expect(config.hub.host == "localhost" && config.hub.port == 8883)
        #expect(config.hub.cert == "/etc/fieldagent/certs/dev.pem")
        #expect(config.hub.ca == "/etc/ca.pem")
        #expect(config.predictor.deadline == .milliseconds(50))
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
            _ = try AgentConfig.parse(text, path: "agent.yaml")
            Issue.record("expected problems")
        } catch {
            let fields = error.issues.map(\.field)
            #expect(fields == ["device_id", "send_frequency", "route", "hub.colour", "hub.port", "predictor.deadline",
                               "outbox.quota", "outbox.drain_rate"], "\(error)")
            #expect(error.issues[0].file == "agent.yaml:1")
            #expect(error.issues[1].message.contains("out of range"))
        }
    }

    @Test func anEmptyFileIsAnEmptyConfiguration() throws {
        #expect(try AgentConfig.parse("", path: "a.yaml") == AgentConfig(path: "a.yaml"))
    }

    @Test(arguments: [("512KB", 512 << 10), ("64MB", 64 << 20), ("1GB", 1 << 30), ("1.5M", 3 << 19), ("1048576", 1 << 20)])
    func byteSizes(text: String, bytes: Int) {
        #expect(AgentConfig.parseByteSize(text) == bytes)
    }
}

@Suite struct ShippedConfigTests {
    /// The example in deploy/ (what fieldagent.service reads) is a valid agent.yaml.
    @Test func theDeployExampleParses() throws {
        let config = try AgentConfig.load(path: "\(repositoryRoot)/deploy/agent.yaml")
        #expect(config.route == .predictor)
        #expect(config.hub.host == "myhub.azure-devices.net")
        #expect(config.predictor.socket == "/run/fieldagent/predictor.sock")
    }
}
