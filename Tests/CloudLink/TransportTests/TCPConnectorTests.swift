#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Transport

/// A plain listening socket on 127.0.0.1 with a backlog of 0 that never accepts: once its
/// accept queue is full, Linux drops further SYNs, so a connect hangs until it times out.
final class FullBacklog {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 0) == 0 else { throw TestFailure("bind/listen: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }
}

@Suite("TCP connect with a deadline")
struct TCPConnectorTests {
    @Test("a peer that never answers the SYN gives connectTimeout with the time allowed")
    func connectTimeout() throws {
        let backlog = try FullBacklog()
        var connected: [Int32] = []
        defer { connected.forEach { close($0) } }
        var timeout: TransportError?
        // The first connections fill the accept queue; the next one must time out.
        for _ in 0..<8 where timeout == nil {
            do {
                connected.append(try TCPConnector.connect(host: "127.0.0.1", port: backlog.port, timeout: .milliseconds(200)))
            } catch {
                timeout = error
            }
        }
        guard case let .connectTimeout(host, port, after) = timeout else {
            Issue.record("expected connectTimeout, got \(String(describing: timeout))")
            return
        }
        #expect(host == "127.0.0.1" && port == backlog.port && after == .milliseconds(200))
        #expect(timeout.map { "\($0)" } == "no answer from 127.0.0.1:\(backlog.port) within 0.2 seconds; check the "
            + "network path and firewalls (outbound TCP \(backlog.port) must be open)")
    }
}
