#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SystemCalls

/// Opens a TCP connection with a deadline: `getaddrinfo` (IPv4 and IPv6), then a non-blocking
/// `connect` + `poll` to each address in turn until one answers.
enum TCPConnector {
    /// Returns a connected, non-blocking, close-on-exec descriptor; the caller closes it.
    static func connect(host: String, port: UInt16, timeout: Duration) throws(TransportError) -> Int32 {
        let peer = "\(host):\(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = POSIX.streamType
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = status == EAI_SYSTEM
                ? "system error: \(POSIX.describe(errno: errno))"
                : String(cString: gai_strerror(status))
            throw .dns(host: host, reason: reason)
        }
        defer { freeaddrinfo(list) }

        let deadline = ContinuousClock.now.advanced(by: timeout)
        var refused: [String] = []
        var timedOut = false
        var lastError: SystemError?
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry?.pointee {
            entry = info.ai_next
            guard let address = info.ai_addr else { continue }
            let numeric = POSIX.numericHost(address, length: info.ai_addrlen)
            do {
                if let fd = try attempt(info, address: address, deadline: deadline) { return fd }
                timedOut = true
                break  // the deadline is spent; later addresses would get no time
            } catch {
                if error.errno == ECONNREFUSED { refused.append(numeric) } else { lastError = error }
            }
        }
        if timedOut { throw .connectTimeout(host: host, port: port, timeout: timeout) }
        if let lastError {
            throw .system(lastError, peer: peer)
        }
        throw .connectRefused(host: host, port: port, addresses: refused)
    }

    /// One address: the connected descriptor, nil on timeout, or the error of `connect`.
    private static func attempt(_ info: addrinfo, address: UnsafeMutablePointer<sockaddr>,
                                deadline: ContinuousClock.Instant) throws(SystemError) -> Int32? {
        let fd = try POSIX.call("socket") { socket(info.ai_family, POSIX.streamType, info.ai_protocol) }
        var keep = false
        defer { if !keep { POSIX.close(fd) } }
        try POSIX.makeNonBlocking(fd)
        do {
            try POSIX.call("connect") { POSIX.connect(fd, address, info.ai_addrlen) }
        } catch where error.errno == EINPROGRESS || error.errno == EALREADY {
            guard try POSIX.wait(fd, for: POSIX.writable, until: deadline) else { return nil }
            let pending = try POSIX.pendingError(fd)
            if pending != 0 { throw SystemError(errno: pending, function: "connect") }
        }
        keep = true
        return fd
    }
}
