import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Identity
import InMemoryLogging
import IoTHub
import JSON
import Logging
import MQTT
import Synchronization
import TestSupport
import Testing
import Transport
@testable import LocalHub

extension HubFixture {
    /// A hub like ``make(devices:reusing:)`` with its configuration adjusted by `configure`.
    static func make(devices: [String] = ["dev-1", "dev-2"],
                     configure: (inout LocalHubServer.Configuration) -> Void) async throws -> HubFixture {
        let folder = try TemporaryDirectory(prefix: "localhub")
        let pki = try DevPKI.generate(outputDirectory: folder.path + "/pki", devices: devices, now: Date())
        let logs = InMemoryLogHandler()
        var handler = logs
        handler.logLevel = .trace
        var configuration = LocalHubServer.Configuration(stateDirectory: folder.path + "/state", port: 0,
                                                         logger: Logger(label: "localhub-test") { _ in handler })
        configuration.serverCertificateFile = pki.files.serverCertificate
        configuration.serverKeyFile = pki.files.serverKey
        configure(&configuration)
        let server = try LocalHubServer(configuration)
        try await server.start()
        return HubFixture(folder: folder, pki: pki, logs: logs, server: server)
    }
}

/// A plain TCP connection to the hub that never starts TLS.
final class IdleConnection {
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { close(fd) }

    /// True when the hub closed the connection within `seconds` (a read returns 0 or a reset).
    func isClosedByHub(within seconds: Int) -> Bool {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        return n == 0 || (n < 0 && errno == ECONNRESET)
    }
}

@Suite(.serialized) struct LocalHubBoundsTests {
    /// A TCP connection that never starts TLS is closed at the handshake deadline, so idle
    /// connections cannot hold the unauthenticated places (or descriptors) for good: after three
    /// of them filled a cap of three, they are reaped and a real device connects.
    @Test func idleConnectionsAreReapedAndTheCapOnUnauthenticatedOnesHolds() async throws {
        let hub = try await HubFixture.make { configuration in
            configuration.limits.tlsHandshakeTimeout = .milliseconds(500)
            configuration.limits.maximumUnauthenticatedConnections = 3
        }
        defer { Task { await hub.cleanUp() } }
        try hub.registerAllByCA()
        let idle = try (0..<3).map { _ in try IdleConnection(port: hub.port) }
        #expect(waitUntil { hub.server.core.openConnections.unauthenticated == 3 })
        let refused = try IdleConnection(port: hub.port)
        #expect(refused.isClosedByHub(within: 2), "a connection over the cap is closed at once")
        #expect(hub.waitForLog("have not authenticated yet (cap 3)"))
        for connection in idle { #expect(connection.isClosedByHub(within: 5), "reaped at the handshake deadline") }
        #expect(hub.waitForLog("no TLS handshake within"))
        #expect(waitUntil { hub.server.core.openConnections.total == 0 })
        let device = try TestDevice(port: hub.port, fixture: hub, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        #expect(waitUntil { hub.server.core.openConnections == (total: 1, unauthenticated: 0) })
    }

    @Test func theTotalConnectionCapRefusesNewConnections() async throws {
        let hub = try await HubFixture.make { configuration in
            configuration.limits.maximumConnections = 2
        }
        defer { Task { await hub.cleanUp() } }
        let held = try (0..<2).map { _ in try IdleConnection(port: hub.port) }
        #expect(waitUntil { hub.server.core.openConnections.total == 2 })
        #expect(try IdleConnection(port: hub.port).isClosedByHub(within: 2))
        #expect(hub.waitForLog("2 connections are open (cap 2)"))
        #expect(held.count == 2)
    }

    /// A device that floods twin GETs and never reads: the hub stops reading it once its answers
    /// are not taken (the device's writes block), and when pushes from the hub pile up past the
    /// output cap it closes the connection. LocalHub once grew by 1.2 GB this way.
    @Test func unreadOutputIsCapped() async throws {
        let hub = try await HubFixture.make { configuration in
            configuration.limits.maximumPendingOutputBytes = 256 << 10
            configuration.twinReadsPerSecond = 1e9
        }
        defer { Task { await hub.cleanUp() } }
        try hub.registerAllByCA()
        let device = try TestDevice(port: hub.port, fixture: hub, certificateOf: "dev-1")
        #expect(try device.connect("dev-1") == .accepted)
        #expect(try device.subscribe([IoTHubTopic.twinResponseFilter, IoTHubTopic.twinDesiredPatchFilter]) == [.granted(.atMostOnce), .granted(.atMostOnce)])
        // Large answers, so kernel socket buffers (megabytes on loopback) fill quickly.
        let patch = JSONValue.object(["note": .string(String(repeating: "x", count: 2000))])
        _ = try hub.server.setDesired("dev-1", patch: patch)
        var batch: [UInt8] = []
        for index in 0..<100 {
            // A padded request (the hub ignores a GET's body), so the requests outgrow the kernel's buffers too.
            batch += try MQTTEncoder.encode(.publish(.init(topic: "$iothub/twin/GET/?$rid=\(index)", payload: [UInt8](repeating: 0x20, count: 1000),
                                                           qos: .atMostOnce)))
        }
        var sent = 0
        var heldBack = false
        while sent < 20_000 {
            do {
                try device.tls.write(batch, timeout: .seconds(2))
                sent += 100
            } catch {
                heldBack = true
                break
            }
        }
        #expect(heldBack, "the hub read all \(sent) twin GETs of a device that never reads")
        #expect(hub.server.isConnected("dev-1"), "back-pressure alone does not disconnect")
        // Pushes of ~28 KB each, until the hub gives up on the device: far more than the kernel's
        // socket buffers hold, so the unsent output must pass the cap.
        let large = JSONValue.object(Dictionary(uniqueKeysWithValues: (0..<7).map { ("k\($0)", JSONValue.string(String(repeating: "y", count: 4000))) }))
        var pushes = 0
        while hub.server.isConnected("dev-1"), pushes < 2_000 {
            _ = try hub.server.setDesired("dev-1", patch: pushes.isMultiple(of: 2) ? large : patch)
            pushes += 1
        }
        #expect(hub.waitForLog("the device does not read"))
        #expect(waitUntil { !hub.server.isConnected("dev-1") })
    }

    /// Twin reads at IoT Hub's rate: a burst beyond it is answered 429, and the bucket refills.
    @Test func twinReadsAreThrottledAtTheHubRate() throws {
        let folder = try TemporaryDirectory(prefix: "localhub")
        let clock = Mutex(Duration.seconds(100))
        let core = try HubCore(stateDirectory: folder.path, logger: Logger(label: "test"), now: { Date() },
                               sessionConfiguration: HubSession.Configuration(), twinReadsPerSecond: 100,
                               uptime: { clock.withLock { $0 } })
        try core.register(DeviceRecord(deviceID: "dev-1", authentication: .certificateAuthority))
        let burst = (0..<101).map { _ in core.twinGet("dev-1").status }
        #expect(burst.prefix(100).allSatisfy { $0 == 200 })
        #expect(burst.last == 429)
        #expect(String(decoding: core.twinGet("dev-1").body, as: UTF8.self).contains("429001"))
        clock.withLock { $0 += .milliseconds(20) }
        #expect(core.twinGet("dev-1").status == 200)
        #expect(core.twinGet("dev-1").status == 200)
        #expect(core.twinGet("dev-1").status == 429)
    }

    /// The telemetry log is size-capped per device: the file rotates (one older file kept) and
    /// the newest records are always there.
    @Test func theTelemetryLogRotatesAtItsCap() throws {
        let folder = try TemporaryDirectory(prefix: "localhub")
        let log = try TelemetryLog(directory: folder.path, maximumFileBytes: 4096)
        for index in 0..<200 {
            let message = HubSession.TelemetryMessage(deviceID: "dev-1", topic: "devices/dev-1/messages/events/",
                                                      properties: IoTHubPropertyBag(), payload: Array("{\"n\":\(index)}".utf8),
                                                      qos: .atLeastOnce)
            log.append(TelemetryRecord(message, arrivedAt: Date()))
        }
        for file in [log.path(for: "dev-1"), log.path(for: "dev-1") + ".1"] {
            let size = try #require(FileManager.default.attributesOfItem(atPath: file)[.size] as? Int)
            #expect(size <= 4096, "\(file) is \(size) bytes")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["dev-1.jsonl", "dev-1.jsonl.1"])
        let records = try log.records(deviceID: "dev-1")
        #expect(records.count < 200 && records.count > 10)
        #expect(records.last?.payload == "{\"n\":199}")
        let numbers = records.compactMap { Int($0.payload.dropFirst(5).dropLast()) }
        #expect(numbers == Array((200 - numbers.count)..<200), "the newest records, in order")
        #expect(log.lastError == nil)
    }
}

/// IoT Hub delivers at least once and does not deduplicate; LocalHub keeps every copy too and
/// counts, per device, the messages that repeat a `$.mid`.
@Test func duplicatesAreKeptAndCountedPerDevice() throws {
    let folder = try TemporaryDirectory(prefix: "localhub")
    let log = try TelemetryLog(directory: folder.path)
    func message(_ device: String, _ mid: String?) -> TelemetryRecord {
        var bag = IoTHubPropertyBag()
        if let mid { bag.append("$.mid", mid) }
        return TelemetryRecord(HubSession.TelemetryMessage(deviceID: device, topic: "devices/\(device)/messages/events/",
                                                           properties: bag, payload: [], qos: .atLeastOnce), arrivedAt: Date())
    }
    for mid in ["a-1", "a-2", "a-1", "a-3", "a-2", "a-1"] { log.append(message("dev-a", mid)) }
    for mid in ["a-1", nil, nil] { log.append(message("dev-b", mid)) }
    #expect(log.duplicates(deviceID: "dev-a") == 3)
    #expect(log.duplicates(deviceID: "dev-b") == 0, "ids are per device; messages without one are never duplicates")
    #expect(try log.records(deviceID: "dev-a").count == 6, "every copy is kept, as IoT Hub does")
}

/// A backlog batch (messageType=batch) is counted per reading: device id + each element's `seq`,
/// the `$.mid` the same reading carries when sent alone.
@Test func duplicatesInsideBatchesAreCountedPerReading() throws {
    let folder = try TemporaryDirectory(prefix: "localhub")
    let log = try TelemetryLog(directory: folder.path)
    func message(_ properties: [(String, String)], _ payload: String) -> TelemetryRecord {
        var bag = IoTHubPropertyBag()
        for (name, value) in properties { bag.append(name, value) }
        return TelemetryRecord(HubSession.TelemetryMessage(deviceID: "dev-c", topic: "devices/dev-c/messages/events/",
                                                           properties: bag, payload: Array(payload.utf8), qos: .atLeastOnce), arrivedAt: Date())
    }
    func batch(_ seqs: ClosedRange<Int>) -> TelemetryRecord {
        let elements = seqs.map { #"{"deviceId":"dev-c","seq":\#($0)}"# }.joined(separator: ",")
        return message([("$.mid", "dev-c-\(seqs.lowerBound)-\(seqs.upperBound)"), ("messageType", "batch")],
                       #"{"deviceId":"dev-c","messageType":"batch","messages":[\#(elements)]}"#)
    }
    log.append(message([("$.mid", "dev-c-3")], #"{"seq":3}"#))
    log.append(batch(1...5))      // 3 was sent alone before
    log.append(batch(6...9))
    log.append(batch(8...12))     // 8 and 9 again (a batch made differently after a restart)
    #expect(log.duplicates(deviceID: "dev-c") == 3)
}
