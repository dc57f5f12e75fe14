import HAL
import Logging
import Synchronization
import SystemCalls
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `ADDR:PORT` to listen on: an IPv4 literal, `[IPv6]`, or a name (`localhost`); port 0 picks a
/// free one.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// `127.0.0.1:9464`, `0.0.0.0:8080`, `[::1]:9464`; nil with the reason when it is not one.
    public static func parse(_ text: String) -> Result<ListenAddress, ListenAddressProblem> {
        guard let colon = text.lastIndex(of: ":") else {
            return .failure(ListenAddressProblem("'\(text.prefix(64))' has no port; write ADDR:PORT, e.g. 127.0.0.1:9464"))
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, host.count <= 253, !host.contains(where: { $0 == " " || $0 == "/" }) else {
            return .failure(ListenAddressProblem("'\(text.prefix(64))' has no address; write ADDR:PORT, e.g. 127.0.0.1:9464"))
        }
        guard let port = UInt16(text[text.index(after: colon)...]) else {
            return .failure(ListenAddressProblem("'\(text.prefix(64))': the port must be 0…65535"))
        }
        return .success(ListenAddress(host: host, port: port))
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public struct ListenAddressProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A small HTTP/1.1 server on one thread and one `poll` loop: GET, HEAD and POST with
/// `Content-Length` bodies, one request per connection (`Connection: close`).
///
/// ## Contract
/// - Bounded: at most ``Configuration/maximumConnections`` connections at once (more wait in
///   the kernel's backlog), each request bounded by ``HTTPRequestParser/Limits``, each
///   connection closed when it has not finished within ``Configuration/timeout``.
/// - The handler runs on the server's thread, one request at a time: keep it quick.
/// - ``stop()`` ends the loop at once (a pipe wakes it) and closes every connection.
public final class HTTPServer: Sendable {
    public struct Configuration: Sendable {
        public var address: ListenAddress
        public var maximumConnections: Int
        public var timeout: Duration
        public var limits: HTTPRequestParser.Limits

        public init(address: ListenAddress, maximumConnections: Int = 8, timeout: Duration = .seconds(10),
                    limits: HTTPRequestParser.Limits = HTTPRequestParser.Limits()) {
            self.address = address
            self.maximumConnections = max(1, maximumConnections)
            self.timeout = timeout
            self.limits = limits
        }
    }

    public typealias Handler = @Sendable (HTTPRequest) -> HTTPResponse

    public let configuration: Configuration
    /// The port actually bound (the configured one, or the one the kernel picked for port 0).
    public let port: UInt16
    let listener: Int32
    let wake: (read: Int32, write: Int32)
    let handler: Handler
    let logger: Logger
    struct State {
        var started = false
        var stopped = false
        var finished = false
    }
    let state = Mutex(State())
    let finished = WakeUp()

    /// Binds and listens (nothing is served until ``start()``).
    public init(configuration: Configuration, logger: Logger, handler: @escaping Handler) throws(SystemError) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        let (fd, port) = try Self.bindAndListen(configuration.address)
        do {
            wake = try POSIX.pipe()
        } catch {
            POSIX.close(fd)
            throw error
        }
        listener = fd
        self.port = port
    }

    deinit {
        let started = state.withLock { $0.started }
        if !started {
            POSIX.close(listener)
            POSIX.close(wake.read)
            POSIX.close(wake.write)
        }
    }

    /// Serves on a new thread until ``stop()``.
    public func start() throws(SystemError) {
        let first = state.withLock { s -> Bool in
            defer { s.started = true }
            return !s.started
        }
        guard first else { return }
        let rc = POSIX.startThread { [self] in
            serve()
            POSIX.close(listener)
            POSIX.close(wake.read)
            state.withLock { $0.finished = true }
            finished.raise()
        }
        guard rc == 0 else {
            state.withLock { $0.started = false }
            throw SystemError(errno: rc, function: "pthread_create", subject: "HTTP server \(configuration.address)")
        }
    }

    /// Ends the loop and waits (at most 5 s) for it to close its connections.
    public func stop() {
        let running = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return s.started && !s.stopped
        }
        guard running else { return }
        var one: UInt8 = 1
        _ = write(wake.write, &one, 1)
        _ = finished.wait(timeout: .seconds(5))
        POSIX.close(wake.write)
    }

    // MARK: The loop

    final class Connection {
        let fd: Int32
        let deadline: ContinuousClock.Instant
        var received: [UInt8] = []
        var output: [UInt8] = []
        var sent = 0
        var writing = false

        init(fd: Int32, deadline: ContinuousClock.Instant) {
            self.fd = fd
            self.deadline = deadline
        }
    }

    func serve() {
        let parser = HTTPRequestParser(limits: configuration.limits)
        var connections: [Connection] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        defer { for c in connections { POSIX.close(c.fd) } }
        while true {
            var entries = [pollfd(fd: wake.read, events: POSIX.readable, revents: 0)]
            let accepting = connections.count < configuration.maximumConnections
            entries.append(pollfd(fd: accepting ? listener : -1, events: POSIX.readable, revents: 0))
            for c in connections { entries.append(pollfd(fd: c.fd, events: c.writing ? POSIX.writable : POSIX.readable, revents: 0)) }
            let now = ContinuousClock.now
            let timeout = connections.map(\.deadline).min().map { POSIX.milliseconds(until: $0, from: now) } ?? -1
            do { try POSIX.poll(&entries, milliseconds: timeout) } catch {
                if error.errno == EINTR { continue }
                logger.error("HTTP server \(configuration.address): \(error); serving stops", metadata: ["feature": "http"])
                return
            }
            if entries[0].revents != 0 { return }
            var keep: [Connection] = []
            let after = ContinuousClock.now
            for (c, entry) in zip(connections, entries.dropFirst(2)) {
                if entry.revents != 0, step(c, parser: parser, buffer: &buffer) {
                    keep.append(c)
                } else if entry.revents == 0, after < c.deadline {
                    keep.append(c)
                } else {
                    POSIX.close(c.fd)
                }
            }
            connections = keep
            if accepting, entries[1].revents != 0, let fd = acceptOne() {
                connections.append(Connection(fd: fd, deadline: after + configuration.timeout))
            }
        }
    }

    /// Reads or writes what the connection is ready for; false when it is done (close it).
    func step(_ c: Connection, parser: HTTPRequestParser, buffer: inout [UInt8]) -> Bool {
        if c.writing {
            let sent: Int?
            do { sent = try c.output[c.sent...].withUnsafeBytes { bytes throws(SystemError) in try POSIX.send(c.fd, bytes) } } catch { return false }
            guard let sent else { return true }  // the socket's buffer is full: wait for writable
            c.sent += sent
            return c.sent < c.output.count
        }
        let received: Int?
        do { received = try buffer.withUnsafeMutableBytes { bytes throws(SystemError) in try POSIX.receive(c.fd, into: bytes) } } catch { return false }
        guard let count = received else { return true }  // nothing yet
        guard count > 0 else { return false }
        c.received += buffer[..<count]
        let response: HTTPResponse
        var head = false
        switch parser.parse(c.received) {
        case .needMore: return true
        case .refuse(let status, let message): response = .error(status, message)
        case .request(let request):
            head = request.method == "HEAD"
            response = handler(head ? HTTPRequest(method: "GET", path: request.path, query: request.query, headers: request.headers) : request)
        }
        c.received = []
        c.output = response.serialized(includeBody: !head)
        c.writing = true
        return step(c, parser: parser, buffer: &buffer)
    }

    func acceptOne() -> Int32? {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return nil }  // EAGAIN, or the client went away between poll and accept
        do { try POSIX.makeNonBlocking(fd) } catch {
            POSIX.close(fd)
            return nil
        }
        return fd
    }

    static func bindAndListen(_ address: ListenAddress) throws(SystemError) -> (Int32, UInt16) {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = POSIX.streamType
        var found: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(address.host, String(address.port), &hints, &found)
        guard rc == 0, let info = found else {
            throw SystemError(errno: EADDRNOTAVAIL, function: "getaddrinfo", subject: address.description)
        }
        defer { freeaddrinfo(info) }
        let fd = try POSIX.call("socket", address.description) { socket(info.pointee.ai_family, POSIX.streamType, 0) }
        do throws(SystemError) {
            try POSIX.makeNonBlocking(fd)
            var one: Int32 = 1
            try POSIX.call("setsockopt") { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
            try POSIX.call("bind", address.description) { bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) }
            try POSIX.call("listen", address.description) { listen(fd, 16) }
            var bound = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            try POSIX.call("getsockname") {
                withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            }
            let port = withUnsafePointer(to: &bound) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
            return (fd, port)
        } catch {
            POSIX.close(fd)
            throw error
        }
    }
}
