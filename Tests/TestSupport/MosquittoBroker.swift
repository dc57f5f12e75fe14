import Foundation
import Identity

/// A real Mosquitto 2 broker for one test: mutual TLS on 127.0.0.1, `require_certificate`,
/// `use_identity_as_username`, and an ACL letting each device write only below its own tree.
/// Stopped by PID when the test ends.
public final class MosquittoBroker: @unchecked Sendable {
    private let folder: TemporaryDirectory
    public var directory: String { folder.path }
    public let pki: DevPKI.Bundle
    public let port: UInt16
    /// A second listener speaking MQTT over WebSockets, with the same mutual TLS (nil: none).
    public let webSocketPort: UInt16?
    private var process: Process?
    public let log: String
    public var tlsVersion = "tlsv1.2"

    public static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto") }

    /// `log_type all` logs every PUBLISH (what the refusal tests read); off for bulk tests.
    public var logEverything = true

    /// - Parameter webSockets: also listen for MQTT over WebSockets on TLS (``webSocketPort``;
    ///   Mosquitto 2.0.11 refuses a websockets-only configuration, so the plain listener stays).
    public init(devices: [String] = ["dev-1", "dev-2"], tlsVersion: String = "tlsv1.2", logEverything: Bool = true,
                webSockets: Bool = false) throws {
        self.logEverything = logEverything
        folder = try TemporaryDirectory(prefix: "fieldagent-mqtt")
        pki = try DevPKI.generate(outputDirectory: folder.path, devices: devices + ["reader"], now: Date())
        port = try Self.freePort()
        var second: UInt16?
        while webSockets, second == nil || second == port { second = try Self.freePort() }
        webSocketPort = second
        log = folder.path + "/mosquitto.log"
        self.tlsVersion = tlsVersion
        try """
        pattern write devices/%u/#
        user reader
        topic read #

        """.write(toFile: folder.path + "/acl", atomically: true, encoding: .utf8)
        try start()
    }

    public func start() throws {
        let f = pki.files
        let listenerSettings = """
        cafile \(f.caChain)
        certfile \(f.serverCertificate)
        keyfile \(f.serverKey)
        tls_version \(tlsVersion)
        require_certificate true
        use_identity_as_username true
        allow_anonymous false
        acl_file \(directory)/acl
        """
        try """
        per_listener_settings true
        persistence false
        user root
        log_dest file \(log)
        log_type \(logEverything ? "all" : "error")
        listener \(port) 127.0.0.1
        \(listenerSettings)
        \(webSocketPort.map { "listener \($0) 127.0.0.1\nprotocol websockets\n\(listenerSettings)" } ?? "")

        """.write(toFile: directory + "/mosquitto.conf", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/mosquitto")
        p.arguments = ["-c", directory + "/mosquitto.conf"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        try waitForPort()
    }

    /// SIGKILL, as a crash or power cut would.
    public func kill() {
        guard let p = process else { return }
        end(p, signal: SIGKILL)
        process = nil
    }

    public func stop() {
        guard let p = process else { return }
        end(p, signal: SIGTERM)
        process = nil
    }

    deinit { stop() }

    public func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    private func waitForPort() throws {
        try waitForPort(port)
        if let webSocketPort { try waitForPort(webSocketPort) }
    }

    private func waitForPort(_ port: UInt16) throws {
        for _ in 0..<200 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let ok = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if ok == 0 { return }
            usleep(20_000)
        }
        throw BrokerError(message: "mosquitto did not start listening on \(port): \(logText())")
    }

    public static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw BrokerError(message: "no free port") }
        return UInt16(bigEndian: address.sin_port)
    }
}

struct BrokerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// `mosquitto_sub` as the reading side: every message as "topic<TAB>payload-hex" lines.
public final class Subscriber: @unchecked Sendable {
    public let process = Process()
    public let output: String

    public init(broker: MosquittoBroker, topic: String = "devices/#") throws {
        output = broker.directory + "/sub-\(UUID().uuidString).txt"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let f = broker.pki.files
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_sub")
        process.arguments = ["-h", "127.0.0.1", "-p", "\(broker.port)", "--cafile", f.caChain,
                             "--cert", f.devices["reader"]!.certificate, "--key", f.devices["reader"]!.key,
                             "--insecure", "-t", topic, "-q", "1", "-i", "reader-\(UUID().uuidString.prefix(8))",
                             "-F", "%t\t%x"]
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = FileHandle.nullDevice
        try process.run()
        usleep(300_000)  // subscribed before the test publishes
    }

    /// Complete lines only: mosquitto_sub writes a long line (a 70 KB body is 140,000 hex digits)
    /// in several writes, and a line still being written must not count as received.
    public var lines: [String] {
        let data = (try? Data(contentsOf: URL(fileURLWithPath: output))) ?? Data()
        guard let end = data.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
        return String(decoding: data[..<end], as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// Every line so far, once one satisfies `done` (or after `timeout` seconds).
    public func waitFor(timeout: Double = 10, until done: (String) -> Bool) -> [String] {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end, !lines.contains(where: done) { usleep(20_000) }
        return lines
    }

    /// Every line so far, once there are `count` (or after `timeout` seconds). Counts newlines in
    /// the bytes appended since the last look, so waiting for 259,200 lines does not re-read and
    /// re-split the whole file fifty times a second while mosquitto_sub is still writing it.
    public func waitFor(count: Int, timeout: Double = 10) -> [String] {
        let end = Date().addingTimeInterval(timeout)
        var complete = 0
        guard let file = FileHandle(forReadingAtPath: output) else { return lines }
        defer { try? file.close() }
        while complete < count {
            while let chunk = try? file.read(upToCount: 1 << 20), !chunk.isEmpty {
                complete += chunk.withUnsafeBytes { raw in
                    guard var next = raw.baseAddress else { return 0 }
                    let end = next + raw.count
                    var n = 0
                    while next < end, let newline = memchr(next, 0x0A, end - next) {
                        n += 1
                        next = UnsafeRawPointer(newline) + 1
                    }
                    return n
                }
            }
            if complete >= count || Date() >= end { break }
            usleep(20_000)
        }
        return lines
    }

    deinit {
        end(process, signal: SIGTERM)
    }
}

/// Signals a child and waits (bounded) until it is gone; escalates to SIGKILL. Foundation's
/// `waitUntilExit` can hang on Linux when called off the main thread, so this polls `isRunning`.
public func end(_ process: Process, signal: Int32) {
    guard process.isRunning else { return }
    kill(process.processIdentifier, signal)
    for attempt in 0..<300 {
        if !process.isRunning { return }
        if attempt == 100 { kill(process.processIdentifier, SIGKILL) }
        usleep(10_000)
    }
}
