import IoTHub
import MQTT
import Testing

@Suite struct IoTHubDeviceConnectionTests {
    @Test func usernameWithModelIDFromSectionB1() throws {
        let connection = IoTHubDeviceConnection(hostName: "myhub.azure-devices.net", deviceID: "dev1",
                                                modelID: "dtmi:com:example:EnvSensor;1")
        #expect(try connection.username()
            == "myhub.azure-devices.net/dev1/?api-version=2021-04-12&model-id=dtmi%3Acom%3Aexample%3AEnvSensor%3B1")
        #expect(try connection.clientID() == "dev1")
    }

    @Test func moduleIdentity() throws {
        let connection = IoTHubDeviceConnection(hostName: "myhub.azure-devices.net", deviceID: "dev1", moduleID: "mod1")
        #expect(try connection.clientID() == "dev1/mod1")
        #expect(try connection.username() == "myhub.azure-devices.net/dev1/mod1/?api-version=2021-04-12")
    }

    @Test func x509ConnectHasNoPasswordAndKeepsTheSession() throws {
        let connection = IoTHubDeviceConnection(hostName: "h.azure-devices.net", deviceID: "d1")
        let connect = try connection.connectPacket()
        #expect(connect.password == nil)
        #expect(connect.cleanSession == false)
        #expect(connect.keepAliveSeconds == 240)
        let username = Array("h.azure-devices.net/d1/?api-version=2021-04-12".utf8)
        // Hand-written: flags 0x80 (user name only: no password, no will, clean session 0).
        let body: [UInt8] = [0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x80, 0x00, 0xF0,
                             0x00, 0x02, 0x64, 0x31, 0x00, UInt8(username.count)] + username
        #expect(try MQTTEncoder.encode(.connect(connect)) == [0x10, UInt8(body.count)] + body)
    }

    @Test func keepAliveAboveHubMaximumIsRefused() {
        let connection = IoTHubDeviceConnection(hostName: "h", deviceID: "d", keepAliveSeconds: 1178)
        #expect(throws: IoTHubError.keepAliveTooLong(seconds: 1178, maximum: 1177)) { try connection.connectPacket() }
        #expect(throws: Never.self) {
            try IoTHubDeviceConnection(hostName: "h", deviceID: "d", keepAliveSeconds: 1177).connectPacket()
        }
    }

    @Test func badIdentifiersAreRefusedWithTheReason() {
        #expect(throws: IoTHubError.invalidDeviceID("a/b", reason: "'/' is not allowed (ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ ')")) {
            try IoTHubDeviceConnection(hostName: "h", deviceID: "a/b").connectPacket()
        }
        #expect(throws: IoTHubError.invalidDeviceID("", reason: "it is empty")) {
            try IoTHubDeviceConnection(hostName: "h", deviceID: "").connectPacket()
        }
        #expect(throws: IoTHubError.self) { try IoTHubDeviceConnection(hostName: "h", deviceID: "dev#1").connectPacket() }
        // Non-ASCII letters are letters, but not allowed; the whole character is named.
        #expect(throws: IoTHubError.invalidDeviceID("pump-é1", reason: "'é' is not allowed (ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ ')")) {
            try IoTHubDeviceConnection(hostName: "h", deviceID: "pump-é1").connectPacket()
        }
        #expect(throws: IoTHubError.invalidDeviceID("pump-e\u{301}1", reason: "'e\u{301}' is not allowed (ASCII letters, digits and - . % _ * ? ! ( ) , : = @ $ ')")) {
            try IoTHubDeviceConnection(hostName: "h", deviceID: "pump-e\u{301}1").connectPacket()
        }
        // Every allowed punctuation mark passes.
        #expect(throws: Never.self) { try IoTHubDeviceConnection(hostName: "h", deviceID: "a-.%_*?!(),:=@$'Z9").connectPacket() }
        #expect(throws: IoTHubError.self) {
            try IoTHubDeviceConnection(hostName: "h", deviceID: String(repeating: "a", count: 129)).connectPacket()
        }
        #expect(throws: IoTHubError.invalidHostName("my hub")) {
            try IoTHubDeviceConnection(hostName: "my hub", deviceID: "d").connectPacket()
        }
        #expect(throws: IoTHubError.invalidModelID("EnvSensor")) {
            try IoTHubDeviceConnection(hostName: "h", deviceID: "d", modelID: "EnvSensor").connectPacket()
        }
    }

    @Test func sessionConfigurationDrivesAConnect() throws {
        let connection = IoTHubDeviceConnection(hostName: "myhub.azure-devices.net", deviceID: "dev1",
                                                modelID: "dtmi:com:example:EnvSensor;1")
        var session = try MQTTClientSession(configuration: connection.sessionConfiguration())
        let actions = session.handle(.connectRequested, at: .zero)
        #expect(actions.first == .send(.connect(try connection.connectPacket())))
        // A 256 KB telemetry body plus its topic still fits a packet.
        #expect(session.configuration.maximumPacketSize > IoTHubLimits.maximumTelemetryMessageBytes)
    }
}
