import Foundation
import Identity
import InMemoryLogging
import IoTHub
import Logging
import MQTT
import TestSupport
import Transport
@testable import LocalHub

/// A LocalHub on a free 127.0.0.1 port with a dev PKI in a fresh temporary folder and an
/// in-memory log to assert on.
struct HubFixture: Sendable {
    let folder: TemporaryDirectory
    let pki: DevPKI.Bundle
    let logs: InMemoryLogHandler
    let server: LocalHubServer

    var directory: String { folder.path }
    var stateDirectory: String { directory + "/state" }
    var port: UInt16 { server.port ?? 0 }
    /// The DPS port, for a hub made with `dps:`.
    var dpsPort: UInt16 { server.dpsPort ?? 0 }

    /// A hub in a new folder, or, `reusing` a stopped one, a hub restarted on its folder and PKI.
    static func make(devices: [String] = ["dev-1", "dev-2"], reusing previous: HubFixture? = nil,
                     now: @escaping @Sendable () -> Date = { Date() },
                     cloudToDevice: CloudToDeviceLimits = CloudToDeviceLimits(),
                     webSockets: Bool = false, dps: DpsConfiguration? = nil) async throws -> HubFixture {
        let folder = try previous?.folder ?? TemporaryDirectory(prefix: "localhub")
        let directory = folder.path
        let pki = try previous?.pki ?? DevPKI.generate(outputDirectory: directory + "/pki", devices: devices, now: Date())
        let logs = InMemoryLogHandler()
        var handler = logs
        handler.logLevel = .trace
        var configuration = LocalHubServer.Configuration(stateDirectory: directory + "/state", port: 0,
                                                         logger: Logger(label: "localhub-test") { _ in handler })
        configuration.now = now
        configuration.cloudToDevice = cloudToDevice
        configuration.webSocketPort = webSockets ? 0 : nil
        configuration.dps = dps
        configuration.serverCertificateFile = pki.files.serverCertificate
        configuration.serverKeyFile = pki.files.serverKey
        let server = try LocalHubServer(configuration)
        try await server.start()
        return HubFixture(folder: folder, pki: pki, logs: logs, server: server)
    }

    /// Registers every dev-PKI device as CA-signed under the dev root.
    func registerAllByCA() throws {
        try server.registerCertificateAuthority(pem: Array(try Data(contentsOf: URL(fileURLWithPath: pki.files.rootCertificate))))
        for device in pki.files.devices.keys { try server.registerDevice(device, authentication: .certificateAuthority) }
    }

    func certificate(_ device: String) throws -> X509Certificate {
        try X509Certificate.load(chainFile: pki.files.devices[device]?.certificate ?? "")[0]
    }

    /// Log messages at warning and above.
    var warnings: [String] { logs.entries.filter { $0.level >= .warning }.map { "\($0.message)" } }

    /// Waits (polling, bounded) until some log line contains `text`.
    func waitForLog(_ text: String, timeout: Double = 5) -> Bool {
        waitUntil(timeout) { logs.entries.contains { "\($0.message)".contains(text) } }
    }

    func cleanUp() async {
        await server.stop()
    }
}

func waitUntil(_ timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A hand-driven MQTT device over real TLS: packets exactly as a test wants them, including the
/// ones a well-behaved client never sends.
final class TestDevice: @unchecked Sendable {
    let tls: TLSConnection
    var decoder = MQTTDecoder()
    var nextPacketID: UInt16 = 0

    convenience init(port: UInt16, fixture: HubFixture, certificateOf device: String) throws {
        let files = fixture.pki.files.devices[device]
        try self.init(port: port, certificateFile: files?.certificate ?? "", keyFile: files?.key ?? "", trust: fixture.pki.files.caChain)
    }

    /// A device with these files, trusting the server through `trust` (a CA PEM file).
    init(port: UInt16, certificateFile: String, keyFile: String, trust: String) throws {
        let identity = try X509Identity.load(certificateFile: certificateFile, keyFile: keyFile)
        tls = try TLSConnection.connect(host: "127.0.0.1", port: port,
                                        configuration: .client(trustAnchors: .file(trust), identity: identity))
    }

    deinit { tls.close() }

    func send(_ packet: MQTTPacket) throws { try tls.write(MQTTEncoder.encode(packet)) }

    /// The next packet, or `nil` once the hub closed the connection.
    func receive(timeout: Duration = .seconds(5)) throws -> MQTTPacket? {
        while true {
            if let packet = try decoder.next() { return packet }
            let bytes: [UInt8]
            do { bytes = try tls.read(max: 65_536, timeout: timeout) } catch {
                if case .timeout = error { throw error }
                return nil  // reset or closed
            }
            if bytes.isEmpty { return nil }
            decoder.append(bytes)
        }
    }

    /// CONNECT as `clientID` (default: the certificate's device); the CONNACK code, `nil` if closed first.
    func connect(_ clientID: String, keepAlive: UInt16 = 60, username: String? = nil) throws -> MQTTPacket.ConnAck.ReturnCode? {
        try send(.connect(.init(clientID: clientID, cleanSession: false, keepAliveSeconds: keepAlive,
                                username: username ?? "localhost/\(clientID)/?api-version=2021-04-12")))
        guard case .connAck(let ack)? = try receive() else { return nil }
        return ack.returnCode
    }

    func subscribe(_ filters: [String]) throws -> [MQTTPacket.SubAck.ReturnCode] {
        nextPacketID += 1
        try send(.subscribe(.init(packetID: nextPacketID, subscriptions: filters.map { .init(filter: $0, qos: .atMostOnce) })))
        guard case .subAck(let ack)? = try receive() else { return [] }
        return ack.returnCodes
    }

    func publish(_ topic: String, _ payload: String, qos: MQTTQoS = .atMostOnce) throws {
        var id: UInt16?
        if qos != .atMostOnce {
            nextPacketID += 1
            id = nextPacketID
        }
        try send(.publish(.init(topic: topic, payload: Array(payload.utf8), qos: qos, packetID: id)))
    }

    /// The next PUBLISH from the hub (skipping acknowledgements).
    func nextPublish(timeout: Duration = .seconds(5)) throws -> MQTTPacket.Publish? {
        while let packet = try receive(timeout: timeout) {
            if case .publish(let publish) = packet { return publish }
        }
        return nil
    }
}
