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

/// A time limit for one operation: when it ends, and how long it was (for the message).
struct Deadline {
    var instant: ContinuousClock.Instant
    var length: Duration

    init(_ length: Duration) {
        self.length = length
        instant = ContinuousClock.now.advanced(by: length)
    }
}

/// A TLS connection over TCP: a ``TLSMemorySession`` (OpenSSL over memory BIOs) and a pump that
/// moves its ciphertext over a non-blocking socket with `poll`. OpenSSL never touches the socket,
/// so every wait has a deadline or a wake-up, `EINTR` is retried in one place (`SystemCalls`) and
/// `send` cannot raise SIGPIPE.
///
/// Contract:
/// - ``connect(host:port:configuration:expectedHostName:connectTimeout:handshakeTimeout:)``
///   resolves the host (IPv4 and IPv6), connects within the connect timeout, and completes a
///   handshake with TLS 1.2 at least, SNI, and verification of the server's chain and host name.
/// - Blocking calls: ``read(max:timeout:)`` returns what arrived (1…`max` bytes), or `[]` once the
///   peer has closed (close_notify or end of TCP stream); it throws
///   ``TransportError/timeout(operation:peer:after:)`` when nothing arrives in time.
///   ``write(_:timeout:)`` returns once the socket took every byte.
/// - Event-driven calls, for a thread that waits on one thing: ``enqueue(_:)`` and
///   ``readAvailable()`` never wait; ``wait(timeout:wakeUp:)`` is the one place to block, until
///   bytes arrive, queued bytes can go, a ``WakeUpSignal`` fires, or the timeout passes.
/// - Calls are serialised by a lock: a call waiting for data holds back a call from another
///   thread until it returns.
/// - ``close()`` sends close_notify and closes the socket; later calls throw ``TransportError/closed(peer:reason:)``.
public final class TLSConnection: @unchecked Sendable {
    /// `host:port` as given (client) or the remote address (server side).
    public let peer: String
    private let lock = Mutex(())
    // Everything below is touched only under `lock`.
    private let session: TLSMemorySession
    private let fd: Int32
    /// Ciphertext the socket has not taken yet: the rest of a chunk it took only partly (from
    /// `unsentStart` on), then what waits in the session's BIO.
    private var unsent: [UInt8] = []
    private var unsentStart = 0
    /// Decrypted bytes not handed out yet.
    private var plaintext: [UInt8] = []
    private var peerClosedTCP = false
    private var failed = false
    private var isClosed = false
    /// One scratch buffer for `recv` and `send` (a fresh zeroed 64 KB per read showed up as 5 %
    /// of the publish benchmark's CPU); ciphertext goes from the BIO to the socket through it.
    private var chunk = [UInt8](repeating: 0, count: 16_384)

    /// Takes over `fd`.
    init(session: TLSMemorySession, fd: Int32) {
        self.session = session
        self.fd = fd
        peer = session.peer
    }

    deinit {
        if !isClosed { POSIX.close(fd) }
    }

    /// Connects to `host`:`port` and completes the TLS handshake.
    ///
    /// - Parameter expectedHostName: the name the server's certificate must carry (default:
    ///   `host`); also sent as SNI unless it is an IP address.
    /// - Parameter proxy: an HTTP proxy to reach `host` through (a `CONNECT` tunnel, then TLS
    ///   inside it, end to end with the server); nil connects directly.
    public static func connect(host: String, port: UInt16, configuration: TLSConfiguration,
                               expectedHostName: String? = nil, proxy: HTTPProxy? = nil,
                               connectTimeout: Duration = .seconds(10),
                               handshakeTimeout: Duration = .seconds(10)) throws(TransportError) -> TLSConnection {
        let peer = "\(host):\(port)"
        let context = try TLSMemoryContext.client(configuration, name: peer)
        let session = try context.makeSession(peer: peer, expectedHostName: expectedHostName ?? host)
        let fd = try TCPConnector.connect(host: proxy?.host ?? host, port: proxy?.port ?? port, timeout: connectTimeout)
        let connection = TLSConnection(session: session, fd: fd)  // from here deinit closes fd on a throw
        if let proxy { try openTunnel(fd: fd, through: proxy, to: host, port: port, until: Deadline(connectTimeout)) }
        try connection.handshake(until: Deadline(handshakeTimeout))
        return connection
    }

    /// Sends `CONNECT host:port` to the proxy on `fd` and reads its answer head; returns once the
    /// proxy answered 2xx (the tunnel is open), throws ``TransportError/proxy(proxy:target:reason:)``
    /// otherwise. The server speaks only after our ClientHello, so nothing follows the head.
    private static func openTunnel(fd: Int32, through proxy: HTTPProxy, to host: String, port: UInt16,
                                   until deadline: Deadline) throws(TransportError) {
        let target = "\(host):\(port)"
        func fail(_ reason: String) -> TransportError { .proxy(proxy: proxy.description, target: target, reason: reason) }
        func waitFor(_ events: Int16) throws(TransportError) {
            let ready: Bool
            do { ready = try POSIX.wait(fd, for: events, until: deadline.instant) } catch { throw .system(error, peer: proxy.description) }
            if !ready { throw .timeout(operation: "proxy CONNECT to \(target)", peer: proxy.description, after: deadline.length) }
        }
        let request = proxy.connectRequest(host: host, port: port)
        var sent = 0
        while sent < request.count {
            try waitFor(POSIX.writable)
            let result = request.withUnsafeBytes { raw in
                Result { () throws(SystemError) in try POSIX.send(fd, UnsafeRawBufferPointer(rebasing: raw[sent...])) }
            }
            do { sent += try result.get() ?? 0 } catch { throw .system(error, peer: proxy.description) }
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            try waitFor(POSIX.readable)
            let result = chunk.withUnsafeMutableBytes { raw in
                Result { () throws(SystemError) in try POSIX.receive(fd, into: raw) }
            }
            let received: Int?
            do { received = try result.get() } catch { throw .system(error, peer: proxy.description) }
            guard let count = received else { continue }  // woken without data
            if count == 0 { throw fail("the proxy closed the connection before answering") }
            response += chunk[0..<count]
            let head: HTTPProxy.ResponseHead?
            do { head = try HTTPProxy.ResponseHead.parse(response) } catch { throw fail(error.description) }
            guard let head else {
                if response.count > HTTPProxy.maximumResponseHead { throw fail("the proxy's answer has no end") }
                continue
            }
            guard (200..<300).contains(head.status) else { throw fail("\(head.status) \(head.reason)") }
            guard head.length == response.count else { throw fail("the proxy sent data after its answer") }
            return
        }
    }

    /// Runs the handshake to its end (either side), answering the peer as bytes arrive.
    func handshake(until deadline: Deadline) throws(TransportError) {
        try lock.withLock { (_: inout ()) throws(TransportError) in
            do throws(TransportError) {
                try session.start()
            } catch {
                failed = true
                throw error
            }
            try flush(until: deadline, operation: "handshake")
            while !session.isHandshakeComplete {
                if peerClosedTCP {
                    failed = true
                    throw TLSMemorySession.closedDuringHandshake(peer: peer)
                }
                try waitForSocket(POSIX.readable, until: deadline, operation: "handshake")
                try fill()
                try flush(until: deadline, operation: "handshake")
            }
        }
    }

    // MARK: Blocking calls

    /// Sends all of `bytes`.
    public func write(_ bytes: [UInt8], timeout: Duration = .seconds(30)) throws(TransportError) {
        try lock.withLock { (_: inout ()) throws(TransportError) -> Void in
            try requireOpen()
            guard !bytes.isEmpty else { return }
            try encrypt(bytes)
            try flush(until: Deadline(timeout), operation: "write")
        }
    }

    /// Up to `max` bytes, waiting at most `timeout` for the first; `[]` once the peer has closed.
    public func read(max: Int, timeout: Duration) throws(TransportError) -> [UInt8] {
        try lock.withLock { (_: inout ()) throws(TransportError) -> [UInt8] in
            try requireOpen()
            let deadline = Deadline(timeout)
            while true {
                if !plaintext.isEmpty { return takePlaintext(max: max) }
                if session.peerClosed || peerClosedTCP { return [] }
                if try fill() { continue }
                try waitForSocket(POSIX.readable | (hasUnsent ? POSIX.writable : 0), until: deadline, operation: "read")
                _ = try flushAvailable()
            }
        }
    }

    // MARK: Event-driven calls

    /// Encrypts `bytes` and sends what the socket takes now; the rest goes out from later calls
    /// (``wait(timeout:wakeUp:)`` watches for room). See ``unsentByteCount``: the caller bounds it.
    public func enqueue(_ bytes: [UInt8]) throws(TransportError) {
        try lock.withLock { (_: inout ()) throws(TransportError) -> Void in
            try requireOpen()
            guard !bytes.isEmpty else { return }
            try encrypt(bytes)
            _ = try flushAvailable()
        }
    }

    /// Ciphertext queued by ``enqueue(_:)`` that the socket has not taken yet.
    public var unsentByteCount: Int { lock.withLock { _ in unsent.count - unsentStart + session.ciphertextCount } }

    /// What has arrived, without waiting: nil when nothing has, `[]` once the peer has closed.
    public func readAvailable() throws(TransportError) -> [UInt8]? {
        try lock.withLock { (_: inout ()) throws(TransportError) -> [UInt8]? in
            try requireOpen()
            // A bounded amount per call, so one busy peer cannot keep the caller from its deadlines.
            for _ in 0..<4 {
                guard try fill() else { break }
            }
            if !plaintext.isEmpty { return takePlaintext(max: plaintext.count) }
            if session.peerClosed || peerClosedTCP { return [] }
            return nil
        }
    }

    /// Blocks until something may have changed: bytes arrived (or the peer closed), the socket
    /// took queued bytes, `wakeUp` was signalled, or `timeout` passed (nil: no limit). Returns at
    /// once when decrypted bytes are already waiting. It may return early: look with
    /// ``readAvailable()`` and the caller's own deadlines afterwards.
    public func wait(timeout: Duration?, wakeUp: WakeUpSignal?) throws(TransportError) {
        try lock.withLock { (_: inout ()) throws(TransportError) -> Void in
            try requireOpen()
            if !plaintext.isEmpty || session.peerClosed || peerClosedTCP { return }
            var entries = [pollfd(fd: fd, events: POSIX.readable | (hasUnsent ? POSIX.writable : 0), revents: 0)]
            if let wakeUp { entries.append(pollfd(fd: wakeUp.readFD, events: POSIX.readable, revents: 0)) }
            do throws(SystemError) {
                try POSIX.poll(&entries, milliseconds: POSIX.milliseconds(timeout))
            } catch {
                throw .system(error, peer: peer)
            }
            if entries.count > 1, entries[1].revents != 0 { wakeUp?.drain() }
            if entries[0].revents & POSIX.writable != 0 { _ = try flushAvailable() }
        }
    }

    /// Sends close_notify (when the connection is still sound) and closes the socket; calling it
    /// again does nothing.
    public func close() {
        lock.withLock { _ in
            guard !isClosed else { return }
            if !failed {
                session.shutdown()
                try? flush(until: Deadline(.seconds(1)), operation: "close")
            }
            isClosed = true
            POSIX.close(fd)
        }
    }

    /// The certificate the peer presented (on a server: the client's, whose CN is the device id).
    public var peerCertificate: X509Certificate? {
        lock.withLock { _ in session.peerCertificate }
    }

    /// The negotiated version as OpenSSL names it (`TLSv1.3`).
    public var protocolVersion: String {
        lock.withLock { _ in session.protocolVersion }
    }

    // MARK: The pump (under the lock)

    private var hasUnsent: Bool { unsentStart < unsent.count || session.ciphertextCount > 0 }

    private func requireOpen() throws(TransportError) {
        if isClosed { throw .closed(peer: peer, reason: "close() was called") }
        if failed { throw .closed(peer: peer, reason: "an earlier TLS or socket error ended the connection") }
    }

    private func takePlaintext(max: Int) -> [UInt8] {
        let count = Swift.min(Swift.max(1, max), plaintext.count)
        if count == plaintext.count {
            // Hands the buffer over: keeping its capacity here would copy it.
            defer { plaintext = [] }
            return plaintext
        }
        defer { plaintext.removeFirst(count) }
        return Array(plaintext[0..<count])
    }

    private func encrypt(_ bytes: [UInt8]) throws(TransportError) {
        if session.peerClosed { throw .closed(peer: peer, reason: "the peer closed the connection before our write") }
        do {
            try session.send(bytes)
        } catch {
            failed = true
            throw error
        }
    }

    /// Sends what the socket takes now, the BIO's ciphertext a chunk at a time; true when
    /// nothing is left.
    private func flushAvailable() throws(TransportError) -> Bool {
        while true {
            while unsentStart < unsent.count {
                guard try sendSome(unsent, from: unsentStart, to: unsent.count, advancing: &unsentStart) else { return false }
            }
            unsent.removeAll()
            unsentStart = 0
            let count = session.readCiphertext(into: &chunk)
            if count == 0 { return true }
            var sent = 0
            while sent < count {
                guard try sendSome(chunk, from: sent, to: count, advancing: &sent) else {
                    unsent = Array(chunk[sent..<count])  // at most one chunk waits outside the BIO
                    return false
                }
            }
        }
    }

    /// One `send` of `bytes[offset..<end]`; false when the socket is full.
    private func sendSome(_ bytes: [UInt8], from offset: Int, to end: Int,
                          advancing position: inout Int) throws(TransportError) -> Bool {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(SystemError) in try POSIX.send(fd, UnsafeRawBufferPointer(rebasing: raw[offset..<end])) }
        }
        do {
            guard let sent = try result.get() else { return false }
            position += sent
            return true
        } catch where error.errno == EPIPE || error.errno == ECONNRESET {
            failed = true
            throw .closed(peer: peer, reason: "the peer closed the connection (\(error.reason))")
        } catch {
            failed = true
            throw .system(error, peer: peer)
        }
    }

    /// Sends everything queued, waiting for room until `deadline`.
    private func flush(until deadline: Deadline, operation: String) throws(TransportError) {
        while try !flushAvailable() {
            try waitForSocket(POSIX.writable, until: deadline, operation: operation)
        }
    }

    /// One `recv` into the session; true when it brought bytes or the end of the stream. What
    /// the session answers (handshake records, an alert) is queued and sent at once: on a failure
    /// the alert tells the peer why before the error is thrown.
    @discardableResult
    private func fill() throws(TransportError) -> Bool {
        guard !peerClosedTCP, !session.peerClosed else { return false }
        let result = chunk.withUnsafeMutableBytes { raw in
            Result { () throws(SystemError) in try POSIX.receive(fd, into: raw) }
        }
        let count: Int
        do {
            guard let received = try result.get() else { return false }
            count = received
        } catch where error.errno == ECONNRESET {
            peerClosedTCP = true
            return true
        } catch {
            failed = true
            throw .system(error, peer: peer)
        }
        if count == 0 {
            peerClosedTCP = true
            return true
        }
        do throws(TransportError) {
            try session.receive(chunk, count: count, into: &plaintext)
        } catch {
            failed = true
            _ = try? flushAvailable()  // the alert tells the peer why
            throw error
        }
        return true
    }

    private func waitForSocket(_ events: Int16, until deadline: Deadline, operation: String) throws(TransportError) {
        let ready: Bool
        do { ready = try POSIX.wait(fd, for: events, until: deadline.instant) } catch {
            throw .system(error, peer: peer)
        }
        if !ready { throw .timeout(operation: operation, peer: peer, after: deadline.length) }
    }
}
