import Identity
import Synchronization
import SystemCalls
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A TLS server socket on 127.0.0.1 for tests and LocalHub: accepts one connection at a time
/// and completes the server handshake (verifying the client's certificate when the
/// configuration requires one).
///
/// Contract: binds only the loopback address; port 0 picks a free port (see ``port``);
/// ``accept(timeout:)`` never waits longer than its timeout; a client whose handshake fails is
/// disconnected and the error is thrown (the listener stays usable).
public final class TLSListener: @unchecked Sendable {
    /// The port actually bound.
    public let port: UInt16
    private let fd: Int32
    private let context: TLSMemoryContext
    private let closed = Mutex(false)

    public init(port: UInt16 = 0, configuration: TLSConfiguration) throws(TransportError) {
        let name = "127.0.0.1:\(port)"
        context = try TLSMemoryContext.server(configuration, clientCertificates: configuration.requireClientCertificate
                                              ? .requireVerified : .none, name: name)
        let socketFD: Int32
        do { socketFD = try POSIX.call("socket") { socket(AF_INET, POSIX.streamType, 0) } } catch { throw .system(error, peer: name) }
        do {
            try POSIX.makeNonBlocking(socketFD)
            var one: Int32 = 1
            try POSIX.call("setsockopt") {
                setsockopt(socketFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
            let length = socklen_t(MemoryLayout<sockaddr_in>.size)
            try POSIX.call("bind") {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, length) }
                }
            }
            try POSIX.call("listen") { listen(socketFD, 64) }
            var bound = sockaddr_in()
            var boundLength = length
            try POSIX.call("getsockname") {
                withUnsafeMutablePointer(to: &bound) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &boundLength) }
                }
            }
            self.port = UInt16(bigEndian: bound.sin_port)
            fd = socketFD
        } catch {
            POSIX.close(socketFD)
            throw .system(error, peer: name)
        }
    }

    deinit { close() }

    /// Waits up to `timeout` for a client and for its handshake to complete (each with its own
    /// `timeout`).
    public func accept(timeout: Duration = .seconds(10)) throws(TransportError) -> TLSConnection {
        let name = "127.0.0.1:\(port)"
        if closed.withLock({ $0 }) { throw .closed(peer: name, reason: "the listener was closed") }
        let deadline = Deadline(timeout)
        let client: Int32
        var address = sockaddr_storage()
        while true {
            let ready: Bool
            do { ready = try POSIX.wait(fd, for: POSIX.readable, until: deadline.instant) } catch {
                throw .system(error, peer: name)
            }
            guard ready else { throw .timeout(operation: "accept", peer: name, after: timeout) }
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            do {
                client = try POSIX.call("accept") {
                    withUnsafeMutablePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { POSIX.accept(fd, $0, &length) }
                    }
                }
                break
            } catch where error.errno == EAGAIN || error.errno == EWOULDBLOCK || error.errno == ECONNABORTED {
                continue  // the client went away between poll and accept
            } catch {
                throw .system(error, peer: name)
            }
        }
        let remote = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                POSIX.numericHost($0, length: socklen_t(MemoryLayout<sockaddr_storage>.size))
            }
        }
        let port = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        let peer = "\(remote):\(port)"
        do {
            try POSIX.makeNonBlocking(client)
        } catch {
            POSIX.close(client)
            throw .system(error, peer: peer)
        }
        let session: TLSMemorySession
        do {
            session = try context.makeSession(peer: peer)
        } catch {
            POSIX.close(client)
            throw error
        }
        let connection = TLSConnection(session: session, fd: client)
        try connection.handshake(until: Deadline(timeout))  // on a throw, deinit closes the descriptor
        return connection
    }

    /// Stops listening; calling it again does nothing.
    public func close() {
        let wasClosed = closed.withLock { value in
            defer { value = true }
            return value
        }
        if !wasClosed { POSIX.close(fd) }
    }
}
