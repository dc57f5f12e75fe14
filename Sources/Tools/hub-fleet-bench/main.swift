// hub-fleet-bench: 1,000 simulated devices against one LocalHub on this machine (issue 5).
//
// The parent makes a dev PKI (one CA; every device certificate issued in memory), starts
// LocalHub as a child process (this same executable with --hub-only) so the hub's peak RSS is
// its own, connects the fleet over mutual TLS from a small SwiftNIO event-loop group (the same
// TLSMemorySession engine as the hub; no thread per device), lets every device send QoS 1
// telemetry for --seconds, and prints a table. scripts/bench-fleet.sh runs it.
import Foundation
import Identity
import IoTHub
import JSON
import LocalHub
import Logging
import MQTT
import NIOCore
import NIOPosix
import Synchronization
import SystemCalls
import Transport

struct BenchError: Error, CustomStringConvertible {
    var description: String
}

struct Options {
    var devices = 1000
    var seconds = 10
    var intervalMilliseconds = 1000
    var concurrency = 100
    var threads = 2
    var hubThreads = 2
    var hubOnly = false
    var stateDirectory = ""
    var cert = ""
    var key = ""
    var ca = ""
    var register = 0

    static let usage = """
    usage: hub-fleet-bench [--devices N] [--seconds S] [--interval-ms MS] [--concurrency C] [--threads T] [--hub-threads T]
           (internal) hub-fleet-bench --hub-only --state-dir D --cert PEM --key KEY --ca ROOT --register N [--hub-threads T]
    """

    init(_ arguments: [String]) throws {
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < arguments.count else { throw BenchError(description: "\(arguments[i - 1]) needs a value\n\(Self.usage)") }
            return arguments[i]
        }
        func integer(_ range: ClosedRange<Int>) throws -> Int {
            let flag = arguments[i]
            let text = try value()
            guard let n = Int(text), range.contains(n) else {
                throw BenchError(description: "\(flag) expects \(range.lowerBound)…\(range.upperBound), got '\(text)'")
            }
            return n
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--devices": devices = try integer(1...20_000)
            case "--seconds": seconds = try integer(1...3600)
            case "--interval-ms": intervalMilliseconds = try integer(1...3_600_000)
            case "--concurrency": concurrency = try integer(1...5000)
            case "--threads": threads = try integer(1...64)
            case "--hub-threads": hubThreads = try integer(1...64)
            case "--hub-only": hubOnly = true
            case "--state-dir": stateDirectory = try value()
            case "--cert": cert = try value()
            case "--key": key = try value()
            case "--ca": ca = try value()
            case "--register": register = try integer(0...20_000)
            case "-h", "--help": throw BenchError(description: Self.usage)
            default: throw BenchError(description: "unknown argument '\(arguments[i])'\n\(Self.usage)")
            }
            i += 1
        }
    }
}

func deviceID(_ index: Int) -> String { String(format: "sim-%05d", index) }

// MARK: Hub side (child process)

func runHub(_ options: Options) async throws {
    var logger = Logger(label: "localhub")
    logger.logLevel = .warning
    var configuration = LocalHubServer.Configuration(stateDirectory: options.stateDirectory, port: 0, logger: logger)
    configuration.serverCertificateFile = options.cert
    configuration.serverKeyFile = options.key
    configuration.certificateAuthorityFiles = [options.ca]
    configuration.eventLoopThreads = options.hubThreads
    let server = try LocalHubServer(configuration)
    for index in 0..<options.register {
        try server.registerDevice(deviceID(index), authentication: .certificateAuthority)
    }
    let port = try await server.start()
    FileHandle.standardOutput.write(Data("PORT \(port)\n".utf8))
    // Runs until the parent closes our stdin (or dies).
    await Task.detached { _ = FileHandle.standardInput.readDataToEndOfFile() }.value
    await server.stop()
}

// MARK: Device side (parent process)

/// Counters every simulated device updates from its event loop.
final class FleetStats: Sendable {
    struct State {
        var sending = false
        var sent = 0
        var acknowledged = 0
        var failures: [String] = []
    }

    let state = Mutex(State())
    var sending: Bool { state.withLock { $0.sending } }
}

/// One simulated device: CONNECT after the TLS handshake, then QoS 1 telemetry every interval
/// while the fleet is sending.
final class SimulatedDevice: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = MQTTPacket

    let id: String
    let stats: FleetStats
    let interval: TimeAmount
    let connected: EventLoopPromise<Int64>
    let started: NIODeadline
    var completed = false
    var sequence = 0
    var timer: RepeatedTask?
    let topic: String

    init(id: String, stats: FleetStats, interval: TimeAmount, connected: EventLoopPromise<Int64>, started: NIODeadline) {
        self.id = id
        self.stats = stats
        self.interval = interval
        self.connected = connected
        self.started = started
        topic = "devices/\(id)/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8"
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is TLSHandshakeCompleted else { return }
        let connect = MQTTPacket.Connect(clientID: id, cleanSession: false, keepAliveSeconds: 240,
                                         username: "localhost/\(id)/?api-version=\(IoTHubLimits.apiVersion)")
        context.writeAndFlush(wrapOutboundOut(.connect(connect)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .connAck(let ack):
            if ack.returnCode == .accepted {
                finish(.success(NIODeadline.now().uptimeNanoseconds - started.uptimeNanoseconds))
                startTelemetry(context: context)
            } else {
                finish(.failure(BenchError(description: "\(id): CONNACK \(ack.returnCode)")))
                context.close(promise: nil)
            }
        case .pubAck:
            stats.state.withLock { $0.acknowledged += 1 }
        default:
            break
        }
    }

    func startTelemetry(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        // A random first delay spreads the fleet over the interval instead of sending in lockstep.
        let jitter = TimeAmount.nanoseconds(Int64.random(in: 0..<max(1, interval.nanoseconds)))
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: jitter, delay: interval) { _ in
            let (device, context) = bound.value
            device.sendOne(context: context)
        }
    }

    func sendOne(context: ChannelHandlerContext) {
        guard stats.sending else { return }
        sequence += 1
        let body = #"{"deviceId":"\#(id)","seq":\#(sequence),"temperature":22.5,"humidity":41.0}"#
        let packetID = UInt16(truncatingIfNeeded: sequence % 65_535 + 1)
        context.writeAndFlush(wrapOutboundOut(.publish(.init(topic: topic, payload: Array(body.utf8), qos: .atLeastOnce,
                                                              packetID: packetID))), promise: nil)
        stats.state.withLock { $0.sent += 1 }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(BenchError(description: "\(id): \(error)")))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        finish(.failure(BenchError(description: "\(id): connection closed")))
    }

    func finish(_ result: Result<UInt64, any Error>) {
        guard !completed else { return }
        completed = true
        switch result {
        case .success(let nanoseconds): connected.succeed(Int64(nanoseconds))
        case .failure(let error): connected.fail(error)
        }
    }
}

func percentile(_ sorted: [Int64], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let index = min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)
    return Double(sorted[max(0, index)]) / 1e6
}

func statusField(_ pid: Int32, _ name: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
        return Int(line.dropFirst(name.count + 1).filter(\.isNumber))
    }
    return nil
}

func hubStats(_ admin: AdminClient) throws -> (telemetry: Int, connected: Int) {
    let result = try admin.send(AdminRequest(op: "stats"))
    func number(_ key: String) -> Int {
        if case .integer(let n)? = result.objectValue?[key] { return Int(n) }
        return -1
    }
    return (number("telemetry"), number("connected"))
}

func runFleet(_ options: Options) async throws {
    let directory = FileManager.default.temporaryDirectory.path + "/hub-fleet-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let pki = try DevPKI.generate(outputDirectory: directory + "/pki", devices: [], now: Date())

    // Device identities, in memory: one key and certificate per device from the one CA.
    let issuing = ContinuousClock.now
    let now = Date()
    var contexts: [TLSMemoryContext] = []
    contexts.reserveCapacity(options.devices)
    for index in 0..<options.devices {
        let key = try DevPKI.makeKey(.ecP256)
        let certificate = try DevPKI.issue(commonName: deviceID(index), profile: .device, key: key, issuer: pki.intermediate,
                                           notBefore: now.addingTimeInterval(-300), notAfter: now.addingTimeInterval(86_400))
        let identity = try X509Identity(chain: [certificate, pki.intermediate.certificate], key: key)
        contexts.append(try TLSMemoryContext.client(.client(trustAnchors: .file(pki.files.rootCertificate), identity: identity)))
    }
    let issueTime = ContinuousClock.now - issuing

    // The hub, as a child process of this same executable.
    let hub = Process()
    hub.executableURL = URL(fileURLWithPath: "/proc/self/exe")
    hub.arguments = ["--hub-only", "--state-dir", directory + "/state", "--cert", pki.files.serverCertificate,
                     "--key", pki.files.serverKey, "--ca", pki.files.rootCertificate, "--register", "\(options.devices)",
                     "--hub-threads", "\(options.hubThreads)"]
    let hubOut = Pipe()
    let hubIn = Pipe()
    hub.standardOutput = hubOut
    hub.standardInput = hubIn
    try hub.run()
    defer {
        try? hubIn.fileHandleForWriting.close()
        hub.waitUntilExit()
    }
    var portLine = Data()
    while !portLine.contains(UInt8(ascii: "\n")) {
        let chunk = hubOut.fileHandleForReading.availableData
        if chunk.isEmpty { throw BenchError(description: "the hub child exited before listening") }
        portLine += chunk
    }
    let text = String(decoding: portLine, as: UTF8.self)
    guard let port = Int(text.split(separator: " ").last?.filter(\.isNumber) ?? "") else {
        throw BenchError(description: "unexpected hub output: \(text)")
    }
    let admin = AdminClient(stateDirectory: directory + "/state")
    let idleRSS = statusField(hub.processIdentifier, "VmRSS") ?? -1

    // Connect the fleet, at most `concurrency` handshakes in flight.
    let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
    let stats = FleetStats()
    let interval = TimeAmount.milliseconds(Int64(options.intervalMilliseconds))
    var durations: [Int64] = []
    var failures: [String] = []
    var channels: [any Channel] = []
    let connectStart = ContinuousClock.now
    var next = 0
    while next < options.devices {
        let batch = next..<min(options.devices, next + options.concurrency)
        next = batch.upperBound
        var futures: [EventLoopFuture<Int64>] = []
        for index in batch {
            let loop = group.next()
            let promise = loop.makePromise(of: Int64.self)
            let started = NIODeadline.now()
            let context = contexts[index]
            let id = deviceID(index)
            let connect = ClientBootstrap(group: loop)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let session = try context.makeSession(peer: "127.0.0.1:\(port)", expectedHostName: "localhost")
                        try channel.pipeline.syncOperations.addHandler(NIOTLSMemoryHandler(session: session))
                        try channel.pipeline.syncOperations.addHandler(MQTTFrameHandler())
                        try channel.pipeline.syncOperations.addHandler(
                            SimulatedDevice(id: id, stats: stats, interval: interval, connected: promise, started: started))
                    }
                }
                .connect(host: "127.0.0.1", port: port)
            connect.whenFailure { promise.fail($0) }
            futures.append(promise.futureResult)
            if let channel = try? await connect.get() { channels.append(channel) }
        }
        for future in futures {
            do { durations.append(try await future.get()) } catch { failures.append("\(error)") }
        }
    }
    let connectTime = ContinuousClock.now - connectStart
    let afterConnect = try hubStats(admin)

    // Telemetry for `seconds`.
    stats.state.withLock { $0.sending = true }
    let before = try hubStats(admin).telemetry
    let sendStart = ContinuousClock.now
    // An admin request (`stats`) every second meanwhile: how long an engineer's `localhub …`
    // waits while the fleet keeps the hub busy.
    var adminLatencies: [Int64] = []
    while ContinuousClock.now - sendStart < .seconds(options.seconds) - .seconds(1) {
        try await Task.sleep(for: .seconds(1))
        let asked = ContinuousClock.now
        _ = try hubStats(admin)
        let took = ContinuousClock.now - asked
        adminLatencies.append(took.components.seconds * 1_000_000_000 + took.components.attoseconds / 1_000_000_000)
    }
    try await Task.sleep(until: sendStart + .seconds(options.seconds))
    let after = try hubStats(admin).telemetry
    let window = ContinuousClock.now - sendStart
    stats.state.withLock { $0.sending = false }
    try await Task.sleep(for: .seconds(1))  // the last acknowledgements
    let final = stats.state.withLock { $0 }
    let peakRSS = statusField(hub.processIdentifier, "VmHWM") ?? -1
    let hubCPU = cpuSeconds(hub.processIdentifier)

    for channel in channels { try? await channel.close() }
    try? await group.shutdownGracefully()

    let sorted = durations.sorted()
    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
    let rate = Double(after - before) / seconds(window)
    print("""
    | measure | value |
    | --- | --- |
    | devices connected | \(durations.count) of \(options.devices) (\(failures.count) failed\(failures.first.map { ", first: \($0)" } ?? "")) |
    | hub saw connected | \(afterConnect.connected) |
    | connect, whole fleet (\(options.concurrency) in flight) | \(String(format: "%.2f", seconds(connectTime))) s |
    | connect per device (TCP + TLS + CONNACK), p50 / p99 / max | \(String(format: "%.1f / %.1f / %.1f", percentile(sorted, 0.5), percentile(sorted, 0.99), percentile(sorted, 1.0))) ms |
    | telemetry interval per device | \(options.intervalMilliseconds) ms for \(options.seconds) s |
    | telemetry logged at the hub | \(after - before) messages, \(String(format: "%.0f", rate)) messages/s |
    | sent / acknowledged (QoS 1) | \(final.sent) / \(final.acknowledged) |
    | admin request while sending (`stats`, one a second), p50 / max | \(String(format: "%.1f / %.1f", percentile(adminLatencies.sorted(), 0.5), percentile(adminLatencies.sorted(), 1.0))) ms |
    | hub RSS idle (registry loaded) / peak (VmHWM) | \(idleRSS / 1024) MB / \(peakRSS / 1024) MB |
    | hub CPU time (user + system) | \(hubCPU.map { String(format: "%.1f s", $0) } ?? "?") |
    | device identities issued (EC P-256) | \(String(format: "%.2f", seconds(issueTime))) s |
    | event loops: hub / fleet | \(options.hubThreads) / \(options.threads) |
    """)
    if durations.count != options.devices {
        throw BenchError(description: "\(options.devices - durations.count) device(s) did not connect")
    }
}

/// utime + stime of a process from /proc/PID/stat, in seconds.
func cpuSeconds(_ pid: Int32) -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    POSIX.raiseDescriptorLimit()  // 1,000 sockets a side plus telemetry files exceed a soft limit of 1024
    if options.hubOnly { try await runHub(options) } else { try await runFleet(options) }
} catch {
    FileHandle.standardError.write(Data("hub-fleet-bench: \(error)\n".utf8))
    exit(2)
}
