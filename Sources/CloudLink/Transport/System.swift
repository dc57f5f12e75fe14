#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libc call: the function's name and its errno (CONVENTIONS.md 10). Internal: the
/// public ``TransportError`` carries the same facts with the host and port they were about.
struct SystemError: Error, Sendable {
    var function: String
    var errno: Int32

    var reason: String {
        guard let text = strerror(errno) else { return "errno \(errno)" }
        return String(cString: text)
    }
}

/// The one place Transport calls libc. Every call retries `EINTR` and throws a ``SystemError``
/// named after the function; `EBADF` and `EFAULT` are bugs here, so they trap.
enum System {
    @discardableResult
    static func call<T: FixedWidthInteger>(_ function: String, _ body: () -> T) throws(SystemError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            precondition(code != EBADF && code != EFAULT, "\(function): errno \(code) is a programming error")
            throw SystemError(function: function, errno: code)
        }
    }

    #if os(Linux)
    /// `send` without SIGPIPE: a peer that went away is an error to report, not a signal.
    static let sendFlags = Int32(MSG_NOSIGNAL)
    static let streamType = Int32(SOCK_STREAM.rawValue)
    #else
    static let sendFlags: Int32 = 0
    static let streamType = SOCK_STREAM
    #endif

    /// Adds `O_NONBLOCK` and `FD_CLOEXEC`: all waiting is done with `poll` and a deadline.
    static func makeNonBlocking(_ fd: Int32) throws(SystemError) {
        let flags = try call("fcntl") { fcntl(fd, F_GETFL) }
        try call("fcntl") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
        try call("fcntl") { fcntl(fd, F_SETFD, FD_CLOEXEC) }
        #if canImport(Darwin)
        var one: Int32 = 1
        try call("setsockopt") { setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size)) }
        #endif
    }

    /// Waits until `fd` is ready for `events` or `deadline` passes; false on timeout.
    static func wait(_ fd: Int32, for events: Int16,
                     until deadline: ContinuousClock.Instant) throws(SystemError) -> Bool {
        while true {
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = try call("poll") { libcPoll(&entry, 1, milliseconds(until: deadline)) }
            if ready > 0 { return true }
            if ContinuousClock.now >= deadline { return false }
        }
    }

    /// Milliseconds to `deadline`, rounded up so a wait never ends early, at least 0.
    static func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
        milliseconds(ContinuousClock.now.duration(to: deadline))
    }

    /// `duration` in whole milliseconds, rounded up so a wait never ends early; at least 0,
    /// and -1 (no limit) for nil.
    static func milliseconds(_ duration: Duration?) -> Int32 {
        guard let duration else { return -1 }
        if duration <= .zero { return 0 }
        let (seconds, attoseconds) = duration.components
        let total = seconds.multipliedReportingOverflow(by: 1000)
        if total.overflow { return Int32.max }
        return Int32(clamping: total.partialValue + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    /// One `poll` over several descriptors; the number ready, 0 on timeout (`timeout` -1: none).
    /// An `EINTR` is retried with the same timeout: callers re-check their deadlines after any return.
    @discardableResult
    static func poll(_ entries: inout [pollfd], timeout: Int32) throws(SystemError) -> Int32 {
        let count = nfds_t(entries.count)
        return try entries.withUnsafeMutableBufferPointer { (buffer) throws(SystemError) -> Int32 in
            try call("poll") { libcPoll(buffer.baseAddress, count, timeout) }
        }
    }

    /// A non-blocking, close-on-exec pipe: (read end, write end).
    static func pipe() throws(SystemError) -> (Int32, Int32) {
        var ends: [Int32] = [-1, -1]
        try call("pipe") { ends.withUnsafeMutableBufferPointer { libcPipe($0.baseAddress) } }
        do {
            try makeNonBlocking(ends[0])
            try makeNonBlocking(ends[1])
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        return (ends[0], ends[1])
    }

    static func close(_ fd: Int32) {
        // Not retried: on Linux the descriptor is gone even when close reports EINTR.
        #if canImport(Glibc)
        _ = Glibc.close(fd)
        #elseif canImport(Musl)
        _ = Musl.close(fd)
        #else
        _ = Darwin.close(fd)
        #endif
    }

    /// libc `poll` and `pipe`, for the members above that hide them.
    private static func libcPoll(_ entries: UnsafeMutablePointer<pollfd>?, _ count: nfds_t, _ timeout: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.poll(entries, count, timeout)
        #elseif canImport(Musl)
        Musl.poll(entries, count, timeout)
        #else
        Darwin.poll(entries, count, timeout)
        #endif
    }

    private static func libcPipe(_ ends: UnsafeMutablePointer<Int32>?) -> Int32 {
        #if canImport(Glibc)
        Glibc.pipe(ends)
        #elseif canImport(Musl)
        Musl.pipe(ends)
        #else
        Darwin.pipe(ends)
        #endif
    }

    /// libc `connect`, for callers whose own `connect` member hides it.
    static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        #if canImport(Glibc)
        Glibc.connect(fd, address, length)
        #elseif canImport(Musl)
        Musl.connect(fd, address, length)
        #else
        Darwin.connect(fd, address, length)
        #endif
    }

    /// libc `accept`, for callers whose own `accept` member hides it.
    static func accept(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>)
        -> Int32 {
        #if canImport(Glibc)
        Glibc.accept(fd, address, length)
        #elseif canImport(Musl)
        Musl.accept(fd, address, length)
        #else
        Darwin.accept(fd, address, length)
        #endif
    }

    /// `SO_ERROR`: the outcome of a non-blocking connect.
    static func pendingError(_ fd: Int32) throws(SystemError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        try call("getsockopt") { getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) }
        return value
    }

    /// `127.0.0.1` / `::1`: the numeric form of a socket address.
    static func numericHost(_ address: UnsafePointer<sockaddr>, length: socklen_t) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let result = getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
        guard result == 0 else { return "?" }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `host` is an IPv4 or IPv6 literal (no SNI for those, RFC 6066 §3).
    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
