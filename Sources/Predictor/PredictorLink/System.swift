#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A libc call that failed: the function's name and errno.
struct SystemCallFailure: Error {
    var function: String
    var errno: Int32
}

/// The socket calls of PredictorLink, bound once: each retries EINTR and throws a
/// ``SystemCallFailure`` named after the function (CONVENTIONS.md 10). EAGAIN is returned as
/// nil by the non-blocking calls so the caller can poll.
enum System {
    static func socketUnixStream() throws(SystemCallFailure) -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        while true {
            let fd = Glibc.socket(AF_UNIX, type, 0)
            if fd >= 0 { return fd }
            if errno != EINTR { throw SystemCallFailure(function: "socket", errno: errno) }
        }
    }

    /// Connects `fd` to the socket at `path`; false when the connection is in progress (poll for
    /// POLLOUT, then read SO_ERROR).
    static func connect(_ fd: Int32, path: String) throws(SystemCallFailure) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw SystemCallFailure(function: "connect", errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        while true {
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
            }
            if rc == 0 { return true }
            switch errno {
            case EINTR: continue
            case EINPROGRESS, EAGAIN: return false
            default: throw SystemCallFailure(function: "connect", errno: errno)
            }
        }
    }

    static func socketError(_ fd: Int32) throws(SystemCallFailure) -> Int32 {
        var value: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &size) == 0 else {
            throw SystemCallFailure(function: "getsockopt", errno: errno)
        }
        return value
    }

    /// Bytes sent, or nil when the socket buffer is full. MSG_NOSIGNAL: a predictor that died
    /// gives EPIPE here instead of a SIGPIPE that would kill the agent.
    static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemCallFailure) -> Int? {
        while true {
            let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw SystemCallFailure(function: "send", errno: errno)
            }
        }
    }

    /// Bytes received (0 = the peer closed), or nil when nothing is there yet.
    static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(SystemCallFailure) -> Int? {
        while true {
            let n = Glibc.recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw SystemCallFailure(function: "recv", errno: errno)
            }
        }
    }

    /// Waits until `fd` is ready for `events` or `milliseconds` pass; false on timeout. An EINTR
    /// returns true so the caller re-checks its deadline and retries.
    static func poll(_ fd: Int32, events: Int16, milliseconds: Int32) throws(SystemCallFailure) -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        let rc = Glibc.poll(&entry, 1, milliseconds)
        if rc > 0 { return true }
        if rc == 0 { return false }
        if errno == EINTR { return true }
        throw SystemCallFailure(function: "poll", errno: errno)
    }

    static func close(_ fd: Int32) {
        // close(2) must not be retried on EINTR on Linux: the descriptor is gone either way.
        _ = Glibc.close(fd)
    }

    static func describe(_ errno: Int32) -> String {
        String(cString: strerror(errno))
    }
}
